package cli

import (
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// envLogLevel is the environment form of --log-level.
const envLogLevel = "GCPTOKEN_LOG"

// bindLogLevel adds the global --log-level flag. With a level set, commands
// log on stderr, and at debug every HTTP request the command makes is
// logged: method, URL without its query (queries can carry tokens), status
// and duration — never headers or bodies, so never a token or key.
func bindLogLevel(root *cobra.Command, app *App) {
	var level string
	root.PersistentFlags().StringVar(&level, "log-level", "", "log on stderr at `LEVEL`: debug, info, warn or error (default $"+envLogLevel+", else no log); debug shows each HTTP request (method, URL without query, status), never tokens or keys")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if level == "" {
			level = app.Getenv(envLogLevel)
		}
		if level == "" {
			return nil
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(level)); err != nil {
			return usagef("--log-level %q (or $%s): want debug, info, warn or error", level, envLogLevel)
		}
		logger := slog.New(slog.NewTextHandler(app.Err, &slog.HandlerOptions{Level: l}))
		logger.Debug("gcptoken start", "command", cmd.CommandPath())
		if l <= slog.LevelDebug {
			app.HTTPClient = loggingClient(app.HTTPClient, logger, app.Getenv)
		}
		return nil
	}
}

// loggingClient returns a client like c (or a default one with timeouts)
// whose requests are logged at debug.
func loggingClient(c *http.Client, log *slog.Logger, getenv func(string) string) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 30 * time.Second
		// Without a client of their own, commands reach the metadata server
		// directly (it is link-local, credentials' default metadata client
		// uses no proxy); debug logging must not change where requests go.
		tr.Proxy = func(r *http.Request) (*url.URL, error) {
			if isMetadataHost(r.URL.Host, getenv) {
				return nil, nil
			}
			return http.ProxyFromEnvironment(r)
		}
		out = http.Client{Timeout: time.Minute}
		out.Transport = tr
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = &loggingTransport{base: base, log: log}
	return &out
}

type loggingTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (t *loggingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(r)
	u := r.URL.Scheme + "://" + r.URL.Host + r.URL.Path
	if err != nil {
		// Transport errors name the address, not the URL's query.
		t.log.Debug("http request failed", "method", r.Method, "url", u, "duration", time.Since(start), "error", err.Error())
		return nil, err
	}
	t.log.Debug("http request", "method", r.Method, "url", u, "status", resp.StatusCode, "duration", time.Since(start))
	return resp, nil
}

// isMetadataHost reports whether hostport is the metadata server: its
// well-known name or address, or $GCE_METADATA_HOST.
func isMetadataHost(hostport string, getenv func(string) string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch host {
	case "metadata.google.internal", "169.254.169.254":
		return true
	}
	return getenv != nil && getenv("GCE_METADATA_HOST") != "" && strings.EqualFold(hostport, getenv("GCE_METADATA_HOST"))
}
