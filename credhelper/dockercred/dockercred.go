package dockercred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/gcptoken/gcptoken"
)

// Username is the user name Google's registries accept with an OAuth access
// token as the password (`docker login -u oauth2accesstoken`).
const Username = "oauth2accesstoken"

// DefaultHosts are the registry host patterns Helper serves without being
// told: Container Registry and Artifact Registry (regional and
// multi-regional hosts, and regional endpoints). A "*" stands for exactly one
// DNS label part (letters, digits, hyphens), never a dot.
var DefaultHosts = []string{
	"gcr.io",
	"*.gcr.io",
	"*-docker.pkg.dev",
	"docker.*.rep.pkg.dev",
}

// Helper serves the docker credential-helper protocol from a token provider.
type Helper struct {
	// Provider mints the access tokens handed to docker. It is called only
	// for get on a served host. Required.
	Provider gcptoken.TokenProvider
	// Hosts are host patterns served in addition to DefaultHosts, in the
	// same syntax ("host", "host:port", "*.example.com"). Optional.
	Hosts []string
	// Allow, when set, is asked about a host no pattern matches; true serves
	// it. The gcptoken CLI uses it to serve the registries that the docker
	// configuration routes to it. Optional.
	Allow func(host string) bool
	// Version is printed by the version action. Optional.
	Version string
	// Erase is called on erase (docker logout) for a served registry: a
	// token cache must then stop serving the token it would hand out.
	// Optional.
	Erase func(ctx context.Context) error
}

// Serve runs action with the protocol's stdin and stdout. The returned
// error's text is what the protocol expects the helper to print on stdout
// before exiting with status 1; for a host Helper does not serve it is the
// protocol's "credentials not found" message, which docker treats as "no
// credentials" rather than a failure (test with IsNotFound).
func (h *Helper) Serve(ctx context.Context, action string, in io.Reader, out io.Writer) error {
	if h.Provider == nil {
		return errors.New("dockercred.Helper: Provider is required")
	}
	switch action {
	case credentials.ActionGet, credentials.ActionStore, credentials.ActionErase, credentials.ActionList:
		// credentials.HandleCommand reads stdin and writes JSON exactly as
		// docker's own helpers do.
		return credentials.HandleCommand(&adapter{ctx: ctx, h: h}, action, in, out)
	case credentials.ActionVersion:
		v := h.Version
		if v == "" {
			v = "devel"
		}
		_, err := fmt.Fprintf(out, "docker-credential-gcptoken (github.com/gcptoken/gcptoken) %s\n", v)
		return err
	}
	return fmt.Errorf("unknown action %q: want get, store, erase, list or version", action)
}

// IsNotFound reports whether err is the protocol's "credentials not found".
func IsNotFound(err error) bool { return credentials.IsErrCredentialsNotFound(err) }

// Get returns the credentials for serverURL: Username and a fresh access
// token for a served host, an error satisfying IsNotFound otherwise.
func (h *Helper) Get(ctx context.Context, serverURL string) (username, secret string, err error) {
	host, err := RegistryHost(serverURL)
	if err != nil || !h.Serves(host) {
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	tok, err := h.Provider.Token(ctx)
	if err != nil {
		return "", "", fmt.Errorf("get access token for %s: %w", host, err)
	}
	if tok == nil {
		return "", "", fmt.Errorf("get access token for %s: empty token", host)
	}
	// The secret goes into an Authorization header; a custom Provider's
	// token is checked as the cache checks every other.
	if err := gcptoken.CheckTokenValue(tok.Value); err != nil {
		return "", "", fmt.Errorf("get access token for %s: %w", host, err)
	}
	return Username, tok.Value, nil
}

// Serves reports whether the helper hands tokens to host ("host" or
// "host:port", as RegistryHost returns).
func (h *Helper) Serves(host string) bool {
	for _, p := range DefaultHosts {
		if MatchHost(p, host) {
			return true
		}
	}
	for _, p := range h.Hosts {
		if MatchHost(p, host) {
			return true
		}
	}
	return h.Allow != nil && h.Allow(host)
}

// List returns the exact hosts among the patterns (wildcards cannot be
// listed), each with Username, as the list action prints them.
func (h *Helper) List() map[string]string {
	out := map[string]string{}
	for _, p := range append(append([]string(nil), DefaultHosts...), h.Hosts...) {
		if !strings.Contains(p, "*") {
			out[p] = Username
		}
	}
	return out
}

// RegistryHost extracts the lower-cased "host[:port]" from the server URL
// docker passes: "gcr.io", "https://gcr.io", "us-docker.pkg.dev/project/repo"
// or "https://gcr.io/v2/". Default ports are dropped.
func RegistryHost(serverURL string) (string, error) {
	s := strings.TrimSpace(serverURL)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", serverURL, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("server URL %q: scheme %q, want https", serverURL, u.Scheme)
	}
	if u.User != nil || u.Hostname() == "" {
		return "", fmt.Errorf("server URL %q: no registry host", serverURL)
	}
	host := strings.ToLower(u.Host)
	if u.Port() == "443" {
		host = strings.TrimSuffix(host, ":443")
	}
	return host, nil
}

// MatchHost reports whether host ("name" or "name:port") matches pattern. A
// pattern without a port matches the name on any port; a "*" in the pattern
// matches one or more letters, digits or hyphens, so "*.gcr.io" matches
// "eu.gcr.io" but neither "gcr.io" nor "a.b.gcr.io" nor "evil.com/.gcr.io".
func MatchHost(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if _, _, err := net.SplitHostPort(pattern); err != nil {
		// The pattern has no port: compare names only.
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
			if strings.Contains(name, ":") {
				host = "[" + name + "]"
			}
		}
	}
	before, after, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == host
	}
	if strings.Contains(after, "*") || len(host) <= len(before)+len(after) ||
		!strings.HasPrefix(host, before) || !strings.HasSuffix(host, after) {
		return false
	}
	for _, r := range host[len(before) : len(host)-len(after)] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// adapter gives credentials.HandleCommand, whose Helper interface has no
// context, the caller's context.
type adapter struct {
	ctx context.Context
	h   *Helper
}

// Add accepts docker's store without effect: the helper mints a token on
// every get, so there is nothing to keep (docker calls store after a
// successful login).
func (a *adapter) Add(*credentials.Credentials) error { return nil }

// Delete is docker's erase (docker logout): nothing is stored, but a token
// cache (Erase) forgets the token, so that the next login gets a new one.
func (a *adapter) Delete(serverURL string) error {
	host, err := RegistryHost(serverURL)
	if err != nil || !a.h.Serves(host) || a.h.Erase == nil {
		return nil
	}
	if err := a.h.Erase(a.ctx); err != nil {
		return fmt.Errorf("erase the token for %s: %w", host, err)
	}
	return nil
}

func (a *adapter) Get(serverURL string) (string, string, error) {
	return a.h.Get(a.ctx, serverURL)
}

func (a *adapter) List() (map[string]string, error) { return a.h.List(), nil }
