package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// helperOptions are the flags of the credential-helper commands
// (kubectl-credential, docker-credential, git-credential).
type helperOptions struct {
	creds  credFlags
	scopes []string
}

func (o *helperOptions) bind(fs *pflag.FlagSet) {
	o.creds.bind(fs)
	fs.StringSliceVar(&o.scopes, "scopes", nil, "OAuth `SCOPES`, comma-separated; short names get Google's prefix (default cloud-platform)")
}

// provider returns the access-token provider the flags select. It loads the
// credentials on first use, so helper actions that need no token (store,
// erase, an unknown host) never read them. Tokens come through the same
// disk cache as print-access-token, keyed by identity and scopes.
func (o *helperOptions) provider(app *App) gcptoken.TokenProvider {
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		tok, _, err := o.creds.token(ctx, app, credentials.TokenRequest{Scopes: parseScopes(o.scopes)})
		return tok, err
	})
}

// helperArgs are the flags a configure command writes into the helper's
// command line, so the configured tool gets the token the user asked for.
type helperArgs struct {
	credentials string
	impersonate string
	scopes      []string
}

func (h *helperArgs) bind(fs *pflag.FlagSet) {
	fs.StringVar(&h.credentials, "credentials", "", "credentials `FILE` the helper should use (made absolute); default: Application Default Credentials at each call")
	fs.StringVar(&h.impersonate, "impersonate-service-account", "", "service account `SA[,SA…]` the helper should impersonate")
	fs.StringSliceVar(&h.scopes, "scopes", nil, "OAuth `SCOPES` the helper should ask for (default cloud-platform)")
}

// args returns the helper flags, with an absolute --credentials path: the
// helper runs from whatever directory the tool runs in.
func (h *helperArgs) args() ([]string, error) {
	var out []string
	if h.credentials != "" {
		abs, err := filepath.Abs(h.credentials)
		if err != nil {
			return nil, usagef("--credentials %q: %v", h.credentials, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, usagef("--credentials %q: %v", h.credentials, errors.Unwrap(err))
		}
		out = append(out, "--credentials="+abs)
	}
	if h.impersonate != "" {
		out = append(out, "--impersonate-service-account="+h.impersonate)
	}
	if len(h.scopes) > 0 {
		out = append(out, "--scopes="+strings.Join(h.scopes, ","))
	}
	return out, nil
}

// selfPath is the absolute path of the running gcptoken, which configure
// commands write into other tools' configuration so that they do not depend
// on PATH.
func selfPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the gcptoken executable: %w", err)
	}
	return exe, nil
}

// validHostPattern reports whether h is a host name, optionally with a
// port, or a "*." wildcard subdomain pattern: what the helper commands accept
// as extra hosts. (Hand-written rather than a regexp: a package-level regexp
// is compiled at every gcptoken start.)
func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if name, port, found := strings.Cut(h, ":"); found {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
			return false
		}
		h = name
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkHosts validates host flags, naming the flag and the bad value.
func checkHosts(flag string, hosts []string, wildcards bool) ([]string, error) {
	var out []string
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case strings.Contains(h, "://") || strings.Contains(h, "/"):
			return nil, usagef("%s %q: want a host name such as us-docker.pkg.dev, without scheme or path", flag, h)
		case !validHostPattern(h):
			return nil, usagef("%s %q: not a host name (host, host:port or *.domain)", flag, h)
		case !wildcards && strings.HasPrefix(h, "*."):
			return nil, usagef("%s %q: wildcards are not allowed here; name each host", flag, h)
		}
		out = append(out, h)
	}
	return out, nil
}
