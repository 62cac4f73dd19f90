package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// emulatorHTTPS is the emulator's --https-proxy mode: the fake served
// under Google's real host names through an intercepting proxy
// (fakegoogle/googlehosts), for programs that cannot be pointed at the
// fake by configuration.
type emulatorHTTPS struct {
	ln       net.Listener
	proxy    *googlehosts.Proxy
	caFile   string
	universe string // whose host names the proxy serves
}

// validateHTTPS checks the --https-proxy and --ca-dir flags, and
// --universe-domain, which decides the proxy's host names.
func (o *emulatorOptions) validateHTTPS() error {
	if o.universe != "" {
		if err := endpoints.CheckUniverseDomain(o.universe); err != nil {
			return usagef("--universe-domain: %v", err)
		}
	}
	if o.httpsProxy == "" {
		if o.caDir != "" {
			return usagef("--ca-dir %q: only used with --https-proxy", o.caDir)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(o.httpsProxy); err != nil {
		return usagef("--https-proxy %q: want host:port, e.g. 127.0.0.1:8443", o.httpsProxy)
	}
	return nil
}

// startHTTPS loads or creates the CA (in --ca-dir, default the state
// directory), listens on --https-proxy, and rewrites the credential files
// the emulator wrote (every JSON file in the state directory with a "type",
// so files added later are covered too) to name Google's real URLs, which
// the proxy catches. It returns nil when --https-proxy is not set.
func (o *emulatorOptions) startHTTPS(fake *fakegoogle.Server, stateDir string, mdsLn net.Listener, logger *slog.Logger) (*emulatorHTTPS, error) {
	if o.httpsProxy == "" {
		return nil, nil
	}
	caDir := stateDir
	if o.caDir != "" {
		abs, err := filepath.Abs(o.caDir)
		if err != nil {
			return nil, usagef("--ca-dir %q: %v", o.caDir, err)
		}
		caDir = abs
	}
	universe := fake.UniverseDomain()
	ca, err := googlehosts.LoadOrCreateCA(caDir, nil, googlehosts.HostsIn(universe)...)
	if err != nil {
		return nil, fmt.Errorf("--ca-dir %s: %w", caDir, err)
	}
	// gcloud sends even loopback requests through its proxy property: an
	// AWS external_account's instance-metadata requests to the fake among
	// them.
	opts := &googlehosts.Options{Fake: fake, CA: ca, Logger: logger, UniverseDomain: universe,
		FakeAliases: []string{strings.TrimPrefix(fake.BaseURL(), "http://")}}
	if mdsLn != nil {
		mds, err := newEmulatorMetadataServer(fake, logger, o.metadataHosts())
		if err != nil {
			return nil, err
		}
		opts.Metadata = mds
		// gcloud sends GCE_METADATA_HOST's loopback address through its
		// proxy property too.
		opts.MetadataAliases = []string{mdsLn.Addr().String()}
	}
	proxy, err := googlehosts.New(opts)
	if err != nil {
		return nil, err
	}
	credFiles, err := filepath.Glob(filepath.Join(stateDir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	for _, path := range credFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		var typed struct{ Type string }
		if json.Unmarshal(data, &typed) != nil || typed.Type == "" {
			continue // state.json and anything else that is not a credential file
		}
		data, err = googlehosts.GoogleURLsIn(data, fake.BaseURL(), universe)
		if err != nil {
			return nil, fmt.Errorf("emulator: %s: %w", path, err)
		}
		if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("emulator: write %s: %w", path, err)
		}
	}
	ln, err := net.Listen("tcp", o.httpsProxy)
	if err != nil {
		return nil, fmt.Errorf("emulator: --https-proxy: listen on %s: %w", o.httpsProxy, err)
	}
	return &emulatorHTTPS{ln: ln, proxy: proxy, caFile: filepath.Join(caDir, googlehosts.CACertFile), universe: universe}, nil
}

// appendEnv adds the proxy and CA variables to env.sh.
func (h *emulatorHTTPS) appendEnv(envPath string, withMetadata bool) error {
	data, err := os.ReadFile(envPath)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	addr := h.ln.Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	proxyURL := shellQuote("http://" + addr)
	ca := shellQuote(h.caFile)
	lines := []string{
		"# --https-proxy: programs reach the fake under Google's own host names",
		"# (" + strings.Join(googlehosts.HostsIn(h.universe)[:2], ", ") + ", ...) through this proxy, trusting",
		"# its local CA. It refuses every other host; loopback goes direct, but for",
		"# gcloud, whose proxy setting covers loopback too: the proxy answers the",
		"# fake's own address (AWS instance metadata) and the metadata server's.",
		"export HTTPS_PROXY=" + proxyURL + " https_proxy=" + proxyURL,
		"export NO_PROXY='127.0.0.1,localhost,::1' no_proxy='127.0.0.1,localhost,::1'",
		"export SSL_CERT_FILE=" + ca + "             # Go, OpenSSL",
		"export REQUESTS_CA_BUNDLE=" + ca + "        # Python requests",
		"export NODE_EXTRA_CA_CERTS=" + ca + "       # Node",
		"export CURL_CA_BUNDLE=" + ca + "            # curl",
		"export CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE=" + ca + " # gcloud",
		"export CLOUDSDK_PROXY_TYPE=http CLOUDSDK_PROXY_ADDRESS=" + shellQuote(host) + " CLOUDSDK_PROXY_PORT=" + shellQuote(port),
		"# gcloud asks Google's token host itself, through the proxy.",
		"unset CLOUDSDK_AUTH_TOKEN_HOST",
	}
	if withMetadata {
		lines = append(lines,
			"# Plain-HTTP metadata requests (metadata.google.internal) go through it too.",
			"export HTTP_PROXY="+proxyURL+" http_proxy="+proxyURL)
	}
	data = append(data, []byte(strings.Join(lines, "\n")+"\n")...)
	if err := fileutil.WriteAtomic(envPath, data, 0o600); err != nil {
		return fmt.Errorf("emulator: write %s: %w", envPath, err)
	}
	return nil
}

// serve runs the proxy until ctx is done, reporting a failure on errc.
func (h *emulatorHTTPS) serve(ctx context.Context, errc chan<- error) {
	go func() {
		if err := h.proxy.Serve(ctx, h.ln); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("https proxy: %w", err)
		}
	}()
}
