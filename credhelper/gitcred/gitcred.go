package gitcred

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/gcptoken/gcptoken"
)

// DefaultUsername is sent with the token. Google's git hosts identify the
// caller from the token and accept any user name, except googlesource.com,
// which wants one starting "git-" (GooglesourceUsername).
const DefaultUsername = "oauth2accesstoken"

// GooglesourceUsername is what gcloud's helper sends to *.googlesource.com.
const GooglesourceUsername = "git-account"

// DefaultHosts are the host patterns Helper serves without being told: the
// ones gcloud's git helper serves. A "*" stands for one or more letters,
// digits, hyphens or dots (a subdomain).
var DefaultHosts = []string{
	"source.developers.google.com",
	"googlesource.com",
	"*.googlesource.com",
	"*.sourcemanager.dev",
	"*.blueoryx.dev",
	"*.developerconnect.dev",
}

// maxInput bounds what the helper reads from git: a request is a handful of
// short lines.
const maxInput = 64 << 10

// Request is what git wrote on the helper's stdin.
type Request struct {
	// Protocol ("https"), Host ("host" or "host:port"), Path and Username
	// are git's attributes of the same names; Path is empty unless
	// credential.useHttpPath is set.
	Protocol string
	Host     string
	Path     string
	Username string
	// Attrs holds every attribute as sent, multi-valued ones ("wwwauth[]",
	// "capability[]") in order.
	Attrs map[string][]string
}

// ParseRequest reads git's key=value lines up to a blank line or end of
// input. A line without "=", an empty key or a NUL byte is an error, as in
// git's own parser.
func ParseRequest(r io.Reader) (*Request, error) {
	req := &Request{Attrs: map[string][]string{}}
	sc := bufio.NewScanner(io.LimitReader(r, maxInput+1))
	sc.Buffer(make([]byte, 0, 4096), maxInput+1)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		n += len(line) + 1
		if n > maxInput {
			return nil, fmt.Errorf("credential request is larger than %d bytes", maxInput)
		}
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		key, value, ok := strings.Cut(line, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("credential request line %q: want key=value", truncate(line))
		case key == "":
			return nil, fmt.Errorf("credential request line %q: empty key", truncate(line))
		case strings.ContainsRune(line, 0):
			return nil, errors.New("credential request contains a NUL byte")
		}
		req.Attrs[key] = append(req.Attrs[key], value)
		switch key {
		case "protocol":
			req.Protocol = value
		case "host":
			req.Host = value
		case "path":
			req.Path = value
		case "username":
			req.Username = value
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("credential request is larger than %d bytes", maxInput)
		}
		return nil, fmt.Errorf("read credential request: %w", err)
	}
	return req, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Helper serves the git credential protocol from a token provider.
type Helper struct {
	// Provider mints the tokens. It is called only for get on a served
	// remote. Required.
	Provider gcptoken.TokenProvider
	// Hosts are host patterns served in addition to DefaultHosts ("host",
	// "host:port" or "*.example.com"). Optional.
	Hosts []string
	// Username is sent with the token. Optional; default DefaultUsername
	// (GooglesourceUsername for googlesource.com hosts).
	Username string
	// Erase is called on erase for a served remote with the password git
	// sends: git erases a credential that the remote refused, and a token
	// cache must then stop serving it (an empty token means "whatever is
	// cached"). Optional.
	Erase func(ctx context.Context, token string) error
}

// Serve runs one helper action. Unknown actions are ignored, as
// gitcredentials(7) asks of helpers. Errors are for the caller to print on
// stderr; git then goes on without this helper's answer.
func (h *Helper) Serve(ctx context.Context, action string, in io.Reader, out io.Writer) error {
	if h.Provider == nil {
		return errors.New("gitcred.Helper: Provider is required")
	}
	switch action {
	case "get", "store", "erase":
	default:
		return nil
	}
	req, err := ParseRequest(in)
	if err != nil {
		return err
	}
	if action == "store" || !h.Serves(req) {
		// Tokens are minted, not stored; and silence on get tells git to
		// ask the next helper.
		return nil
	}
	if action == "erase" {
		if h.Erase == nil {
			return nil
		}
		var password string
		if v := req.Attrs["password"]; len(v) > 0 {
			password = v[len(v)-1]
		}
		if err := h.Erase(ctx, password); err != nil {
			return fmt.Errorf("erase the token for %s: %w", req.Host, err)
		}
		return nil
	}
	tok, err := h.Provider.Token(ctx)
	if err != nil {
		return fmt.Errorf("get access token for %s: %w", req.Host, err)
	}
	if tok == nil {
		return fmt.Errorf("get access token for %s: unusable token: none", req.Host)
	}
	// The protocol is lines of key=value: a newline in a token from a
	// hostile source would add lines of its own.
	if err := gcptoken.CheckTokenValue(tok.Value); err != nil {
		return fmt.Errorf("get access token for %s: unusable token: %w", req.Host, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "username=%s\npassword=%s\n", h.username(req.Host), tok.Value)
	if !tok.Expiry.IsZero() {
		fmt.Fprintf(&b, "password_expiry_utc=%s\n", strconv.FormatInt(tok.Expiry.Unix(), 10))
	}
	if _, err := io.WriteString(out, b.String()); err != nil {
		return fmt.Errorf("write credential: %w", err)
	}
	return nil
}

// Serves reports whether the helper answers req: https only (a token must
// not cross the network in clear text), on a default or configured host.
func (h *Helper) Serves(req *Request) bool {
	if req.Protocol != "https" || req.Host == "" {
		return false
	}
	for _, p := range DefaultHosts {
		if MatchHost(p, req.Host) {
			return true
		}
	}
	for _, p := range h.Hosts {
		if MatchHost(p, req.Host) {
			return true
		}
	}
	return false
}

func (h *Helper) username(host string) string {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	if host == "googlesource.com" || strings.HasSuffix(host, ".googlesource.com") {
		return GooglesourceUsername
	}
	if h.Username != "" {
		return h.Username
	}
	return DefaultUsername
}

// MatchHost reports whether host ("name" or "name:port", as git sends it)
// matches pattern. A pattern without a port matches the name on any port;
// "*.example.com" matches any subdomain of example.com, not example.com
// itself, and nothing outside it.
func MatchHost(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if _, _, err := net.SplitHostPort(pattern); err != nil {
		if name, _, err := net.SplitHostPort(host); err == nil {
			host = name
		}
	}
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		sub, ok := strings.CutSuffix(host, "."+suffix)
		return ok && sub != "" && validName(sub)
	}
	return pattern == host
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".") && !strings.Contains(s, "..")
}
