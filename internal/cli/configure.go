package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/fileutil"
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

// userHome is the home directory kubectl and git use: $HOME, or on
// Windows, where HOME is usually unset, %USERPROFILE% (client-go's
// homedir.HomeDir and Git for Windows fall back to it). Its second result
// names what to set when there is none.
func userHome(app *App) (home, want string) {
	if h := app.Getenv("HOME"); h != "" || runtime.GOOS != "windows" {
		return h, "HOME"
	}
	return app.Getenv("USERPROFILE"), "HOME or USERPROFILE"
}

// shellWord quotes s for POSIX sh when it needs quoting.
func shellWord(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=,@%+-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeConfigFile replaces path with data the way a configure command must:
// the previous content is kept in path+".bak" (0600), the new content is
// written atomically with mode 0600 (these files can hold credentials), and
// a missing directory is created 0700. It returns the backup's path, or ""
// when there was no previous file.
func writeConfigFile(path string, old, data []byte, existed bool) (backup string, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", path, err)
	}
	if existed {
		backup = path + ".bak"
		if err := fileutil.WriteAtomic(backup, old, 0o600); err != nil {
			return "", fmt.Errorf("back up %s: %w", path, err)
		}
	}
	if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return backup, nil
}

// readConfigFile reads a configuration file that may not exist yet.
func readConfigFile(path string) (data []byte, existed bool, err error) {
	data, err = os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return data, true, nil
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
