package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/authproxy"
	"github.com/gcptoken/gcptoken/credentials"
)

type proxyOptions struct {
	creds       credFlags
	target      string
	listen      string
	audience    string
	accessToken bool
	scopes      []string
	header      string
	opsListen   string
	logFormat   string
	allowHosts  []string
	crossSite   bool
}

func newProxyCmd(app *App) *cobra.Command {
	o := &proxyOptions{}
	cmd := &cobra.Command{
		Use:   "proxy --target URL",
		Short: "Serve a local reverse proxy that adds an ID or access token to every request",
		Long: `Serve a local HTTP reverse proxy to --target that adds a bearer token to
every request, like 'gcloud run services proxy': point a browser, curl or any
client at the proxy and call a private Cloud Run service, Cloud Function,
IAP-protected app or Google API without handling tokens.

The token is an ID token for the target (audience: its scheme and host; for
*.cloudfunctions.net the function's URL), or for --audience; with
--access-token, an OAuth access token (for Google APIs). It is cached and
renewed in the background before it expires, so the proxy can run for days.
If no token can be had, the client gets 502 (credential refused) or 503
(token endpoint unreachable) and the request is not forwarded.

The upstream sees Host set to the target's host; redirects to the target
are rewritten to the proxy; client X-Forwarded-* headers are dropped;
streaming responses, WebSockets and HTTP/2 (h2c, e.g. gRPC) pass through.
--header x-serverless-authorization puts the token in that header (Cloud
Run only) and leaves the client's own Authorization to the app.

Listens on loopback by default: anyone who can reach the port calls the
target as the credential's principal. /healthz, /readyz and Prometheus
/metrics are served only on --ops-listen, so every path of the target stays
reachable through the proxy. Access logs go to stderr and never contain
tokens or query strings.

Web pages are kept out: a request whose Host is not an IP address,
localhost, the --listen host or an --allow-host name gets 421 (a page that
rebinds its DNS name to this address sends its own name), and one a browser
marks as coming from another site (Sec-Fetch-Site cross-site or same-site,
e.g. another port of localhost, or an Origin other than the proxy's) gets
403, since the proxy would add the token to it. Open the proxy's URL
directly in the browser, or pass --allow-cross-site for a front end on
another origin that calls the target through the proxy.`,
		Example: `  gcptoken proxy --target https://my-service-abc123-uc.a.run.app
  gcptoken proxy --target https://us-central1-p.cloudfunctions.net/fn --listen 127.0.0.1:9000
  gcptoken proxy --target https://storage.googleapis.com --access-token --scopes devstorage.read_only
  gcptoken proxy --target https://svc.example.com --audience 123-abc.apps.googleusercontent.com --ops-listen 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return proxyRun(cmd.Context(), app, o)
		},
	}
	o.creds.bind(cmd.Flags())
	f := cmd.Flags()
	// The proxy keeps its token in memory and renews it itself; the
	// on-disk cache is never used.
	_ = f.MarkHidden("no-cache")
	f.StringVar(&o.target, "target", "", "upstream base `URL` (scheme, host, optional path prefix); required")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "listen `ADDR` (host:port; loopback by default)")
	f.StringVar(&o.audience, "audience", "", "send ID tokens for `AUDIENCE` (default: the target's scheme and host; for Cloud Functions the function URL)")
	f.BoolVar(&o.accessToken, "access-token", false, "send OAuth access tokens instead of ID tokens (for Google APIs)")
	f.StringSliceVar(&o.scopes, "scopes", nil, "access-token `SCOPES` (default cloud-platform)")
	f.StringVar(&o.header, "header", "authorization", "`HEADER` that carries the token: authorization or x-serverless-authorization")
	f.StringVar(&o.opsListen, "ops-listen", "", "serve /healthz, /readyz and /metrics on `ADDR` (host:port; default off)")
	f.StringVar(&o.logFormat, "log-format", "text", "access log `FORMAT`: text or json (on stderr; never contains tokens)")
	f.StringArrayVar(&o.allowHosts, "allow-host", nil, "also answer requests addressed to `NAME` (or NAME:PORT), e.g. a DNS name clients use; others get 421 (repeatable)")
	f.BoolVar(&o.crossSite, "allow-cross-site", false, "forward requests that web pages of other sites send through the browser (refused with 403 by default)")
	return cmd
}

func proxyRun(ctx context.Context, app *App, o *proxyOptions) error {
	plan, err := o.plan()
	if err != nil {
		return err
	}
	logger, err := newLogger(app.Err, o.logFormat)
	if err != nil {
		return err
	}
	creds, err := o.creds.load(ctx, app)
	if err != nil {
		return err
	}
	tokens, err := o.tokens(ctx, app, creds, plan.audience)
	if err != nil {
		return err
	}
	var quotaProject string
	if o.accessToken {
		quotaProject = creds.QuotaProjectID
	}
	p, err := authproxy.New(&authproxy.Options{
		Target:         plan.target,
		Tokens:         tokens,
		Header:         plan.header,
		QuotaProject:   quotaProject,
		AllowedHosts:   plan.hosts,
		AllowCrossSite: o.crossSite,
		Logger:         logger,
		Now:            app.Now,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return listenError("proxy: --listen", o.listen, err)
	}
	var opsLn net.Listener
	if o.opsListen != "" {
		if opsLn, err = net.Listen("tcp", o.opsListen); err != nil {
			ln.Close()
			return listenError("proxy: --ops-listen", o.opsListen, err)
		}
	}
	o.announce(app, plan, creds, ln, opsLn)
	if err := serveProxy(ctx, p, ln, opsLn); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	fmt.Fprintln(app.Out, "Stopped.")
	return nil
}

// proxyPlan is what the flags say, checked before any credential is loaded.
type proxyPlan struct {
	target     *url.URL
	header     string   // authproxy.Header…
	listenHost string   // the --listen host
	hosts      []string // the names requests may be addressed to
	audience   string   // of the ID tokens; "" with --access-token
}

// plan checks the flags.
func (o *proxyOptions) plan() (*proxyPlan, error) {
	target, err := o.parseTarget()
	if err != nil {
		return nil, err
	}
	if o.audience != "" && o.accessToken {
		return nil, usagef("proxy: --audience and --access-token contradict each other")
	}
	if len(o.scopes) > 0 && !o.accessToken {
		return nil, usagef("proxy: --scopes applies to access tokens: add --access-token")
	}
	plan := &proxyPlan{target: target}
	switch strings.ToLower(o.header) {
	case "authorization":
		plan.header = authproxy.HeaderAuthorization
	case "x-serverless-authorization":
		plan.header = authproxy.HeaderServerlessAuthorization
	default:
		return nil, usagef("proxy: --header %q: want authorization or x-serverless-authorization", o.header)
	}
	if plan.listenHost, _, err = net.SplitHostPort(o.listen); err != nil {
		return nil, usagef("proxy: --listen %q: want host:port, e.g. 127.0.0.1:8080", o.listen)
	}
	if plan.hosts, err = allowedHostNames(o.listen, o.allowHosts); err != nil {
		return nil, err
	}
	if o.opsListen != "" {
		if _, _, err := net.SplitHostPort(o.opsListen); err != nil {
			return nil, usagef("proxy: --ops-listen %q: want host:port, e.g. 127.0.0.1:9090", o.opsListen)
		}
	}
	if err := checkOneAudience("proxy: --audience", o.audience); err != nil {
		return nil, err
	}
	if !o.accessToken {
		if plan.audience, err = proxyAudience(o.audience, target); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// tokens makes the proxy's token provider, cached in memory only: the
// proxy keeps its token warm itself, and the request path must not touch
// the disk. It fails fast on a credential the token server refuses; an
// unreachable token endpoint may come back, so then it only warns.
func (o *proxyOptions) tokens(ctx context.Context, app *App, creds *credentials.Credentials, audience string) (gcptoken.TokenProvider, error) {
	req := credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: audience}
	if o.accessToken {
		req = credentials.TokenRequest{Scopes: parseScopes(o.scopes)}
	}
	src, err := creds.SourceFor(&req)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	tokens, err := gcptoken.NewCachedProvider(src, &gcptoken.CacheOptions{Now: app.Now})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	tok, err := tokens.Token(ctx)
	switch {
	case err != nil && !gcptoken.IsUnavailable(err):
		return nil, fmt.Errorf("proxy: %w", err)
	case err != nil:
		fmt.Fprintf(app.Err, "gcptoken: warning: no token yet (%s); serving anyway: requests get 503 until the token endpoint answers\n",
			strings.Join(strings.Fields(err.Error()), " "))
	case !o.accessToken:
		warnAudience(app.Err, creds, audience, tok)
	}
	return tokens, nil
}

// announce says where the proxy listens, what it sends and as whom, with a
// warning where anyone else can use it.
func (o *proxyOptions) announce(app *App, plan *proxyPlan, creds *credentials.Credentials, ln, opsLn net.Listener) {
	principal := creds.Principal
	if principal == "" {
		principal = "the credential's principal"
	}
	target := plan.target.Redacted()
	if !isLoopback(plan.listenHost) {
		fmt.Fprintf(app.Err, "gcptoken: WARNING: proxying to %s on the non-loopback address %s: anyone who can reach it calls the target as %s\n",
			target, ln.Addr(), principal)
	}
	if o.crossSite {
		fmt.Fprintf(app.Err, "gcptoken: WARNING: --allow-cross-site: any web page open in a browser here can send requests through the proxy to %s as %s\n",
			target, principal)
	}
	what := "ID token for " + plan.audience
	if o.accessToken {
		what = "access token"
	}
	fmt.Fprintf(app.Out, "Proxy to %s (%s in %s, as %s; %s credentials) listening on http://%s\n",
		target, what, plan.header, principal, creds.Type, ln.Addr())
	if opsLn != nil {
		a := opsLn.Addr()
		fmt.Fprintf(app.Out, "Ops: http://%s/healthz  http://%s/readyz  http://%s/metrics\n", a, a, a)
	}
}

// serveProxy runs the proxy and, when opsLn is set, its ops endpoints
// until ctx ends; the first listener to fail stops the other.
func serveProxy(ctx context.Context, p *authproxy.Proxy, ln, opsLn net.Listener) error {
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var opsErr error
	if opsLn != nil {
		wg.Go(func() {
			opsErr = p.ServeOps(sctx, opsLn)
			stop()
		})
	}
	err := p.Serve(sctx, ln)
	stop()
	wg.Wait()
	return errors.Join(err, opsErr)
}

func (o *proxyOptions) parseTarget() (*url.URL, error) {
	if o.target == "" {
		return nil, usagef("proxy: --target is required, e.g. --target https://my-service-abc123-uc.a.run.app")
	}
	u, err := url.Parse(o.target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("proxy: --target %q is not an absolute http(s) URL", o.target)
	}
	if u.User != nil {
		return nil, usagef("proxy: --target %q must not contain user info: the proxy adds the credentials", u.Redacted())
	}
	if u.Fragment != "" {
		return nil, usagef("proxy: --target %q must not have a #fragment", o.target)
	}
	return u, nil
}

// proxyAudience is the ID-token audience for target: the flag, else what
// curl would use for a Cloud Run or Cloud Functions host, else the target's
// scheme and host (what Cloud Run and the fake expect for a custom host).
func proxyAudience(flag string, target *url.URL) (string, error) {
	if err := checkOneAudience("proxy: --audience", flag); err != nil {
		return "", err
	}
	aud := (&curlOptions{audience: flag}).audienceFor(nil, target)
	switch {
	case aud == "":
		return target.Scheme + "://" + target.Host, nil
	case flag == "" && strings.HasSuffix(aud, "/"):
		// A Cloud Functions host without the function's name.
		return "", usagef("proxy: --target %q: put the function's name in the path (https://REGION-PROJECT.cloudfunctions.net/FUNCTION) or pass --audience", target.Redacted())
	}
	return aud, nil
}
