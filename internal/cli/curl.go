package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/fileutil"
	"github.com/gcptoken/gcptoken/internal/safetext"
	"github.com/gcptoken/gcptoken/transport"
)

// envSampleURL is the emulator's sample service, which the emulator's
// env.sh exports; curl sends it an ID token as to a Cloud Function.
const envSampleURL = "GCPTOKEN_SAMPLE_URL"

// maxDataFile bounds -d @FILE: curl is for calling APIs, not uploads.
const maxDataFile = 32 << 20

type curlOptions struct {
	creds       credFlags
	method      string
	headers     []string
	data        string
	include     bool
	follow      bool
	audience    string
	accessToken bool
	scopes      []string
	allowHosts  []string
}

func newCurlCmd(app *App) *cobra.Command {
	o := &curlOptions{}
	cmd := &cobra.Command{
		Use:   "curl URL",
		Short: "Make an authenticated HTTP request (ID token for Cloud Run/Functions, access token otherwise)",
		Long: `Make an HTTP request with an Authorization: Bearer header, natively (no
curl binary needed), and print the response body.

The token is an ID token when --audience is given or the host ends in
.run.app or .cloudfunctions.net (audience: the service URL), and an access
token otherwise. An access token, which opens every Google API the
credential can use, goes only where gcptoken's transport package would send
it: over https to Google APIs (*.googleapis.com, or the credential's
universe), to loopback, and to hosts named with --allow-host. The command
exits 5 when the server answers >= 400. Redirects are not followed unless
-L is given, and the token is sent again only to the scheme, host and port
of the URL given: never to another host or port, nor over plain http after
https.`,
		Example: `  gcptoken curl https://my-service-abc123-uc.a.run.app/hello
  gcptoken curl -X POST -H 'Content-Type: application/json' -d '{"a":1}' https://pubsub.googleapis.com/v1/projects/p/topics/t:publish
  gcptoken curl --audience "$URL" -i "$URL/sample"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return curlRun(cmd, app, o, args[0])
		},
	}
	o.creds.bind(cmd.Flags())
	f := cmd.Flags()
	f.StringVarP(&o.method, "request", "X", "", "HTTP `METHOD` (default GET, or POST with -d)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "extra `HEADER` \"Name: value\" (repeatable)")
	f.StringVarP(&o.data, "data", "d", "", "request body `DATA`; @FILE reads a file, @- standard input")
	f.BoolVarP(&o.include, "include", "i", false, "print the status line and response headers before the body")
	f.BoolVarP(&o.follow, "location", "L", false, "follow redirects (the token is dropped once the scheme, host or port changes)")
	f.StringVar(&o.audience, "audience", "", "send an ID token for `AUDIENCE`")
	f.BoolVar(&o.accessToken, "access-token", false, "send an access token even for a .run.app or .cloudfunctions.net host (with --allow-host)")
	f.StringArrayVar(&o.allowHosts, "allow-host", nil, "also send an access token to `HOST` (host, host:port or *.domain; repeatable); by default only Google APIs and loopback get one")
	f.StringSliceVar(&o.scopes, "scopes", nil, "access-token `SCOPES` (default cloud-platform)")
	bindTimeout(cmd, app, 0)
	return cmd
}

func curlRun(cmd *cobra.Command, app *App, o *curlOptions, rawURL string) error {
	target, err := url.Parse(rawURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return usagef("curl: %q is not an absolute http(s) URL", rawURL)
	}
	if o.audience != "" && o.accessToken {
		return usagef("curl: --audience and --access-token contradict each other")
	}
	if err := checkOneAudience("curl: --audience", o.audience); err != nil {
		return err
	}
	if _, err := transport.NewHostPolicy(o.allowHosts, false, ""); err != nil {
		return usagef("curl: --allow-host %v", err)
	}
	header, err := parseHeaders(o.headers)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	body, err := o.body(ctx, app)
	if err != nil {
		return err
	}
	req := credentials.TokenRequest{Kind: gcptoken.AccessToken, Scopes: parseScopes(o.scopes)}
	if aud := o.audienceFor(app.Getenv, target); aud != "" {
		req = credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: aud}
	}
	tok, creds, err := o.creds.token(ctx, app, req)
	if err != nil {
		return err
	}
	if req.Kind == gcptoken.AccessToken {
		if err := o.accessTokenAllowed(target, creds); err != nil {
			return err
		}
	}
	resp, err := o.send(ctx, app, target, header, body, tok, creds)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized && o.creds.fromCache() {
		// The cached token may have been revoked (a sign-out elsewhere, a
		// deleted key): drop it and try once more with a new one.
		resp.Body.Close()
		fmt.Fprintf(app.Err, "gcptoken: the server refused the cached %s (HTTP 401): dropping it from the cache and retrying once with a new one\n",
			strings.TrimPrefix(describeKind(req.Kind), "an "))
		if err := o.creds.forget(ctx, app, req, tok.Value); err != nil {
			fmt.Fprintf(app.Err, "gcptoken: warning: token cache: %s\n", safetext.OneLine(err.Error()))
		}
		if tok, creds, err = o.creds.token(ctx, app, req); err != nil {
			return fmt.Errorf("curl: the server refused the cached token (HTTP 401), and a new one could not be had: %w", err)
		}
		if resp, err = o.send(ctx, app, target, header, body, tok, creds); err != nil {
			return err
		}
	}
	defer resp.Body.Close()
	if o.include {
		writeResponseHead(app.Out, resp)
	}
	if _, err := io.Copy(app.Out, resp.Body); err != nil {
		return &targetError{fmt.Errorf("curl %s: read response: %w", target.Redacted(), err)}
	}
	if resp.StatusCode >= 400 {
		return &httpStatusError{status: resp.StatusCode}
	}
	return nil
}

// send makes the request with tok. A request that gets no answer is a
// *targetError: the target, not a token endpoint, failed.
func (o *curlOptions) send(ctx context.Context, app *App, target *url.URL, header http.Header, body []byte, tok *gcptoken.Token, creds *credentials.Credentials) (*http.Response, error) {
	method := o.method
	if method == "" {
		method = http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
	}
	var reqBody io.Reader
	if body != nil {
		reqBody = bytes.NewReader(body)
	}
	httpReq, err := http.NewRequestWithContext(ctx, method, target.String(), reqBody)
	if err != nil {
		return nil, usagef("curl: %v", err)
	}
	httpReq.Header = header.Clone()
	if body != nil && httpReq.Header.Get("Content-Type") == "" {
		// curl's default for -d.
		httpReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if httpReq.Header.Get("User-Agent") == "" {
		httpReq.Header.Set("User-Agent", "gcptoken/"+version())
	}
	httpReq.Header.Set("Authorization", tok.TokenType()+" "+tok.Value)
	if q := creds.QuotaProjectID; q != "" && tok.Kind == gcptoken.AccessToken && httpReq.Header.Get("X-Goog-User-Project") == "" {
		httpReq.Header.Set("X-Goog-User-Project", q)
	}
	app.progress.phase("an answer", []string{target.String()}, 1)
	resp, err := o.client(app).Do(httpReq)
	if err != nil {
		return nil, &targetError{fmt.Errorf("curl %s: no answer: %w", target.Redacted(), describeTargetError(unwrapURLError(err)))}
	}
	return resp, nil
}

// describeTargetError says in words why a target gave no answer, and what
// to check; the chain is kept.
func describeTargetError(err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return &describedError{fmt.Sprintf("no such host %q: check the URL's host name", dnsErr.Name), err}
	case isConnectionRefused(err):
		return &describedError{"connection refused: nothing listens there; is the service running, and is the port right?", err}
	}
	return err
}

// describedError is err worded differently.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// audienceFor decides whether the target wants an ID token, and for which
// audience: the explicit flag, or the service URL of a Cloud Run service
// (scheme and host) or a Cloud Function (scheme, host and function name).
func (o *curlOptions) audienceFor(getenv func(string) string, u *url.URL) string {
	if o.audience != "" {
		return o.audience
	}
	if o.accessToken {
		return ""
	}
	if getenv != nil && getenv(envSampleURL) != "" && stripQuery(u.String()) == getenv(envSampleURL) {
		// The emulator's sample service stands for a private Cloud
		// Function: its audience is its URL (env.sh exports it).
		return getenv(envSampleURL)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case strings.HasSuffix(host, ".run.app"):
		return u.Scheme + "://" + u.Host
	case strings.HasSuffix(host, ".cloudfunctions.net"):
		fn, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		return u.Scheme + "://" + u.Host + "/" + fn
	}
	return ""
}

// accessTokenAllowed applies the transport package's host rules to target:
// an access token goes to the credential's universe (*.googleapis.com),
// to --allow-host hosts, over https (or http to loopback), and to loopback.
func (o *curlOptions) accessTokenAllowed(target *url.URL, creds *credentials.Credentials) error {
	switch {
	case transport.IsLoopback(target):
		return nil
	case target.Scheme != "https":
		return usagef("curl: an access token goes only over https, not plain http to %s: use an https:// URL (or --audience AUDIENCE to send an ID token)",
			target.Host)
	}
	universe := cmp.Or(creds.UniverseDomain, credentials.DefaultUniverseDomain)
	policy, err := transport.NewHostPolicy(append([]string{"*." + universe}, o.allowHosts...), false,
		"Google APIs of the credential's universe and --allow-host")
	if err != nil {
		return usagef("curl: --allow-host %v", err) // validated before; the universe is the credential's
	}
	if err := policy.Check(target, "an access token"); err != nil {
		return usagef("curl: %v; pass --allow-host %s to send it there, or --audience AUDIENCE to send an ID token instead",
			err, target.Hostname())
	}
	return nil
}

// body reads -d: the value, @FILE or @- (standard input), bounded in size
// whatever the file is, and ended by ctx (a FIFO or a pipe that no one
// writes must not hang the command).
func (o *curlOptions) body(ctx context.Context, app *App) ([]byte, error) {
	if o.data == "" {
		return nil, nil
	}
	name, isFile := strings.CutPrefix(o.data, "@")
	if !isFile {
		return []byte(o.data), nil
	}
	var b []byte
	var err error
	if name == "-" {
		b, err = fileutil.ReadAll(ctx, app.In, maxDataFile)
	} else {
		b, err = fileutil.ReadFile(ctx, name, maxDataFile)
	}
	var pe *fs.PathError
	switch {
	case errors.Is(err, fileutil.ErrTooLarge):
		return nil, usagef("curl: -d @%s is larger than %d MiB", name, maxDataFile>>20)
	case errors.Is(err, fileutil.ErrIsDirectory):
		return nil, usagef("curl: -d @%s: is a directory", name)
	case errors.As(err, &pe):
		return nil, usagef("curl: -d @%s: %v", name, pe.Err)
	case err != nil:
		return nil, usagef("curl: read -d @%s: %v", name, err)
	}
	return b, nil
}

// client returns an HTTP client that, like curl, does not follow redirects
// unless asked, and sends the token again only to the origin (scheme, host
// and port) of the URL given.
func (o *curlOptions) client(app *App) *http.Client {
	base := app.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 5 * time.Minute}
	}
	c := *base
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !o.follow {
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		// net/http copies the first request's headers onto every hop and
		// drops Authorization only when the domain changes: not for
		// another port, nor for https to http. Once the chain has left
		// the origin, no later hop gets the token back (transport's rule).
		first := via[0].URL
		left := func(u *url.URL) bool { return !transport.SameOrigin(u, first) }
		if left(req.URL) || slices.ContainsFunc(via[1:], func(r *http.Request) bool { return left(r.URL) }) {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &c
}

func parseHeaders(raw []string) (http.Header, error) {
	h := http.Header{}
	for _, line := range raw {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, usagef("curl: -H %q: want \"Name: value\"", line)
		}
		if strings.EqualFold(name, "Authorization") {
			return nil, usagef("curl: -H Authorization: gcptoken sets that header; drop -H or use plain curl")
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

func writeResponseHead(w io.Writer, resp *http.Response) {
	fmt.Fprintf(w, "%s %s\r\n", resp.Proto, resp.Status)
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprint(w, "\r\n")
}

// unwrapURLError drops net/http's `Get "URL": ` prefix: the caller names
// the URL (without credentials) already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return gcptoken.NewTransportError("request", "", ue.Err)
	}
	return err
}
