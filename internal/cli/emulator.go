package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
	"github.com/gcptoken/gcptoken/internal/httpserve"
)

type emulatorOptions struct {
	listen             string
	metadataListen     string
	httpsProxy         string // --https-proxy: see emulator_https.go
	caDir              string
	stateDir           string
	quiet              bool
	faults             []string // --fault specs (fakegoogle.ParseFault)
	faultSeed          uint64
	clockSkew          time.Duration
	tokenCreators      []string
	revokedCreators    []string
	lifetimeExtensions []string
	domainDelegations  []string
	allowHosts         []string
	universe           string // --universe-domain; "" for googleapis.com
}

func newEmulatorCmd(app *App) *cobra.Command {
	o := &emulatorOptions{}
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run a local fake of Google's auth endpoints for offline tests",
		Long: `Serve a protocol-faithful fake of Google's OAuth 2.0 / OIDC endpoints (token,
tokeninfo, certs, openid-configuration, revoke) and a protected sample
service, for offline development and tests.

IAM for impersonation tests: --token-creator, --revoke-token-creator,
--lifetime-extension and --domain-delegation change who may impersonate whom;
the changes are kept in state.json. By default the fake service account and user may impersonate
` + fakegoogle.DefaultTargetServiceAccount + `.

Into the state directory it writes service-account.json (a service-account
key whose token_uri points at the emulator), authorized-user.json (user
credentials for the same), env.sh (the exports that point gcptoken, gcloud
and Google's client libraries at it) and state.json (its keys, so a restart
keeps the files valid). Runs until interrupted.

With --https-proxy it also serves the fake under Google's real host names
(oauth2.googleapis.com, iamcredentials.googleapis.com, sts.googleapis.com, ...)
through an HTTPS proxy with a local CA (ca.pem, ca-key.pem), for programs that
cannot be pointed elsewhere; the credential files then name Google's URLs and
env.sh sets the proxy and CA variables. Other hosts are refused.

With --universe-domain D the fake stands for another Google Cloud universe:
its credential files say universe_domain D, service-account keys sign their
own JWTs (its token endpoint refuses their assertions, as there is none in
such a universe), its metadata server answers universe/universe-domain with
D, the proxy serves D's host names (oauth2.D, iamcredentials.D, sts.D, ...)
instead of googleapis.com's, and env.sh sets GOOGLE_CLOUD_UNIVERSE_DOMAIN and
gcloud's core/universe_domain.

Web pages are kept out: the fake and its metadata server answer only
requests addressed to an IP address, localhost, their --listen host or an
--allow-host name (others get 421: a page that rebinds its DNS name to this
address sends its own name); the metadata server also answers
metadata.google.internal. Requests a browser marks as coming from another
site get 403 from the metadata server and, unless they only read, from the
fake; the consent page (Allow / Deny) accepts only its own form.`,
		Example: `  gcptoken emulator --listen 127.0.0.1:8086 --state-dir ./fake-google &
  . ./fake-google/env.sh
  gcptoken print-identity-token --audience "$GCPTOKEN_SAMPLE_URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return emulatorRun(cmd.Context(), app, o)
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:8086", "listen `ADDR` (host:port; loopback by default)")
	cmd.Flags().StringVar(&o.stateDir, "state-dir", "", "`DIR` for credential files, env.sh and state (default: a new temporary directory)")
	cmd.Flags().StringVar(&o.metadataListen, "metadata-listen", "", "also serve a GCE metadata server for the fake service account on `ADDR` (e.g. 127.0.0.1:8087)")
	cmd.Flags().StringVar(&o.httpsProxy, "https-proxy", "", "also serve the fake under Google's real host names through an HTTPS proxy on `ADDR` (e.g. 127.0.0.1:8443); credential files then name Google's URLs")
	cmd.Flags().StringVar(&o.caDir, "ca-dir", "", "`DIR` holding the --https-proxy CA (ca.pem, ca-key.pem; created if missing; default: the state directory)")
	cmd.Flags().StringArrayVar(&o.tokenCreators, "token-creator", nil, "grant `MEMBER=SA`: MEMBER (an email) gets roles/iam.serviceAccountTokenCreator on SA (repeatable; kept in the state)")
	cmd.Flags().StringArrayVar(&o.revokedCreators, "revoke-token-creator", nil, "revoke `MEMBER=SA`'s Token Creator grant (repeatable; kept in the state)")
	cmd.Flags().StringArrayVar(&o.lifetimeExtensions, "lifetime-extension", nil, "allow impersonated tokens of service account `SA` to live up to 12 h (the org policy; repeatable)")
	cmd.Flags().StringArrayVar(&o.domainDelegations, "domain-delegation", nil, "allow domain-wide delegation for `SA=SCOPE[,SCOPE…]` (repeatable)")
	cmd.Flags().BoolVar(&o.quiet, "quiet", false, "log only warnings and errors, not each request")
	cmd.Flags().StringArrayVar(&o.faults, "fault", nil, "inject faults: `[PATH:]KEY=VALUE,…` with keys rate, times, status, code, hang, reset, truncate, malformed, content-type, latency, latency-rate, e.g. '/token:rate=0.2,status=503' (repeatable)")
	cmd.Flags().Uint64Var(&o.faultSeed, "fault-seed", 1, "seed `N` deciding which requests probabilistic --fault rules hit (same seed, same sequence)")
	cmd.Flags().StringArrayVar(&o.allowHosts, "allow-host", nil, "also answer requests addressed to `NAME` (or NAME:PORT) on the fake's and the metadata server's listeners; others get 421 (repeatable)")
	cmd.Flags().StringVar(&o.universe, "universe-domain", "", "stand for the Google Cloud universe `DOMAIN` instead of googleapis.com (e.g. universe.test)")
	cmd.Flags().DurationVar(&o.clockSkew, "clock-skew", 0, "run the fake's clock `DURATION` ahead (negative: behind) of this machine's, for issued tokens and assertion checks")
	return cmd
}

func emulatorRun(ctx context.Context, app *App, o *emulatorOptions) error {
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return usagef("--listen %q: want host:port, e.g. 127.0.0.1:8086", o.listen)
	}
	if o.metadataListen != "" {
		if _, _, err := net.SplitHostPort(o.metadataListen); err != nil {
			return usagef("--metadata-listen %q: want host:port, e.g. 127.0.0.1:8087", o.metadataListen)
		}
	}
	fakeHosts, err := allowedHostNames(o.listen, o.allowHosts)
	if err != nil {
		return err
	}
	hostGuard, _ := hostcheck.New(fakeHosts...) // checked
	// --https-proxy, --ca-dir and --universe-domain.
	if err := o.validateHTTPS(); err != nil {
		return err
	}
	dir, err := prepareStateDir(o.stateDir)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(app.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.quiet {
		logger = slog.New(slog.NewTextHandler(app.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	fake, err := fakegoogle.New(&fakegoogle.Options{Now: app.Now, Logger: logger, UniverseDomain: o.universe})
	if err != nil {
		return err
	}
	statePath := filepath.Join(dir, "state.json")
	if data, err := os.ReadFile(statePath); err == nil {
		if err := fake.LoadState(data); err != nil {
			return fmt.Errorf("emulator state %s: %w (delete it to start afresh)", statePath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("emulator state: %w", err)
	}
	if err := o.applyIAM(fake); err != nil {
		return err
	}
	fake.SetFaultSeed(o.faultSeed)
	fake.SetClockSkew(o.clockSkew)
	for _, spec := range o.faults {
		f, err := fakegoogle.ParseFault(spec)
		if err != nil {
			return usagef("--%v", err)
		}
		if err := fake.AddFault(f); err != nil {
			return usagef("--fault %q: %v", spec, err)
		}
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("emulator: listen on %s: %w", o.listen, err)
	}
	base := "http://" + ln.Addr().String()
	fake.SetBaseURL(base)
	var mdsLn net.Listener
	if o.metadataListen != "" {
		if mdsLn, err = net.Listen("tcp", o.metadataListen); err != nil {
			ln.Close()
			return fmt.Errorf("emulator: listen on %s: %w", o.metadataListen, err)
		}
		defer mdsLn.Close()
	}
	files, err := writeEmulatorFiles(fake, dir, mdsLn)
	if err != nil {
		ln.Close()
		return err
	}
	https, err := o.startHTTPS(fake, dir, mdsLn, logger)
	if err == nil && https != nil {
		defer https.ln.Close()
		err = https.appendEnv(files.env, mdsLn != nil)
	}
	if err != nil {
		ln.Close()
		return err
	}
	if err := writeState(fake, statePath); err != nil {
		ln.Close()
		return err
	}

	fmt.Fprintf(app.Out, "Fake Google listening on %s\n", base)
	fmt.Fprintf(app.Out, "  state directory:      %s\n", dir)
	if o.universe != "" {
		fmt.Fprintf(app.Out, "  universe domain:      %s (keys sign their own JWTs)\n", o.universe)
	}
	fmt.Fprintf(app.Out, "  service account key:  %s (%s)\n", files.serviceAccount, fakegoogle.DefaultServiceAccount)
	fmt.Fprintf(app.Out, "  user credentials:     %s (%s)\n", files.authorizedUser, fakegoogle.DefaultUser)
	fmt.Fprintf(app.Out, "  sample service:       %s (needs an ID token with that audience)\n", fake.SampleServiceURL())
	if mdsLn != nil {
		fmt.Fprintf(app.Out, "  metadata server:      http://%s (as %s)\n", mdsLn.Addr(), fakegoogle.DefaultServiceAccount)
	}
	if https != nil {
		fmt.Fprintf(app.Out, "  HTTPS proxy:          http://%s (Google's host names; CA %s)\n", https.ln.Addr(), https.caFile)
	}
	fmt.Fprintf(app.Out, "Point tools at it with:  . %s\n", files.env)
	fmt.Fprintln(app.Out, "Press Ctrl-C to stop.")

	srv := &http.Server{Handler: hostGuard.Handler(fake, "--allow-host"), ReadHeaderTimeout: 10 * time.Second}
	var unused httpserve.UnusedConns
	unused.Track(srv)
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	if https != nil {
		https.serve(ctx, errc)
	}
	if mdsLn != nil {
		mds, err := newEmulatorMetadataServer(fake, logger, o.metadataHosts())
		if err != nil {
			srv.Close()
			return err
		}
		go func() {
			if err := mds.Serve(ctx, mdsLn); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("metadata server: %w", err)
			}
		}()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("emulator: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := unused.Shutdown(shutdownCtx, srv); err != nil {
		return fmt.Errorf("emulator: shutdown: %w", err)
	}
	if err := writeState(fake, statePath); err != nil {
		return err
	}
	fmt.Fprintln(app.Out, "Stopped.")
	return nil
}

// metadataHosts are the names the emulator's metadata server answers
// besides its defaults; --allow-host is checked by then.
func (o *emulatorOptions) metadataHosts() []string {
	names, _ := allowedHostNames(o.metadataListen, o.allowHosts)
	return names
}

// applyIAM applies the IAM flags to the fake; they persist in its state.
func (o *emulatorOptions) applyIAM(fake *fakegoogle.Server) error {
	for _, g := range o.tokenCreators {
		member, sa, ok := strings.Cut(g, "=")
		if !ok || member == "" || sa == "" {
			return usagef("--token-creator %q: want MEMBER=SERVICE_ACCOUNT", g)
		}
		if err := fake.GrantTokenCreator(member, sa); err != nil {
			return usagef("--token-creator %q: %v", g, err)
		}
	}
	for _, g := range o.revokedCreators {
		member, sa, ok := strings.Cut(g, "=")
		if !ok || member == "" || sa == "" {
			return usagef("--revoke-token-creator %q: want MEMBER=SERVICE_ACCOUNT", g)
		}
		if err := fake.RevokeTokenCreator(member, sa); err != nil {
			return usagef("--revoke-token-creator %q: %v", g, err)
		}
	}
	for _, sa := range o.lifetimeExtensions {
		if err := fake.AllowLifetimeExtension(sa, true); err != nil {
			return usagef("--lifetime-extension %q: %v", sa, err)
		}
	}
	for _, d := range o.domainDelegations {
		sa, scopes, ok := strings.Cut(d, "=")
		if !ok || sa == "" || scopes == "" {
			return usagef("--domain-delegation %q: want SERVICE_ACCOUNT=SCOPE[,SCOPE…]", d)
		}
		if err := fake.AllowDomainWideDelegation(sa, parseScopes([]string{scopes})); err != nil {
			return usagef("--domain-delegation %q: %v", d, err)
		}
	}
	return nil
}

// prepareStateDir creates dir 0700 (or a temporary one when empty). It
// holds private keys.
func prepareStateDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "gcptoken-emulator-")
		if err != nil {
			return "", fmt.Errorf("emulator: create state directory: %w", err)
		}
		return d, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", usagef("--state-dir %q: %v", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("--state-dir %s: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return "", fmt.Errorf("--state-dir %s: %w", abs, err)
	}
	return abs, nil
}

type emulatorFiles struct{ serviceAccount, authorizedUser, env string }

func writeEmulatorFiles(fake *fakegoogle.Server, dir string, mds net.Listener) (*emulatorFiles, error) {
	f := &emulatorFiles{
		serviceAccount: filepath.Join(dir, "service-account.json"),
		authorizedUser: filepath.Join(dir, "authorized-user.json"),
		env:            filepath.Join(dir, "env.sh"),
	}
	saJSON, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		return nil, err
	}
	rt, err := fake.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser,
		credentials.UserScopes())
	if err != nil {
		return nil, err
	}
	userJSON, err := fake.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	if err != nil {
		return nil, err
	}
	base := fake.BaseURL()
	env := strings.Join([]string{
		"# Generated by `gcptoken emulator`: points gcptoken, gcloud and Google's",
		"# client libraries at the fake Google at " + base + ".",
		"export GCPTOKEN_EMULATOR_URL=" + shellQuote(base),
		"export GOOGLE_APPLICATION_CREDENTIALS=" + shellQuote(f.serviceAccount),
		"export GOOGLE_CLOUD_PROJECT=" + shellQuote(fakegoogle.DefaultProjectID),
		"# gcptoken and its Go library: every Google endpoint (token, IAM, STS,",
		"# certs, tokeninfo) is the emulator; GCPTOKEN_IAM_ENDPOINT and friends override one.",
		"export " + envEmulatorHost + "=" + shellQuote(strings.TrimPrefix(base, "http://")),
		"export " + envAuthURL + "=" + shellQuote(fake.AuthURL()), // gcptoken login
		"export GCPTOKEN_SAMPLE_URL=" + shellQuote(fake.SampleServiceURL()),
		"# gcloud: send its token requests to the emulator too.",
		"export CLOUDSDK_AUTH_TOKEN_HOST=" + shellQuote(base+"/token"),
		"# User credentials instead of the service account:",
		"#   export GOOGLE_APPLICATION_CREDENTIALS=" + shellQuote(f.authorizedUser),
	}, "\n") + "\n"
	if u := fake.UniverseDomain(); u != endpoints.DefaultUniverse {
		env += strings.Join([]string{
			"# The fake's universe: clients (Go's transports, Python's API clients,",
			"# gcptoken) and gcloud are configured for it, so its credentials are accepted.",
			"export " + endpoints.EnvUniverseDomain + "=" + shellQuote(u),
			"export CLOUDSDK_CORE_UNIVERSE_DOMAIN=" + shellQuote(u),
		}, "\n") + "\n"
	}
	if mds != nil {
		addr := shellQuote(mds.Addr().String())
		env += strings.Join([]string{
			"# The metadata server (Go, Python, Node, gcloud). ADC prefers",
			"# GOOGLE_APPLICATION_CREDENTIALS: unset it to get tokens from here.",
			"export GCE_METADATA_HOST=" + addr,
			"export GCE_METADATA_IP=" + addr,
			"export GCE_METADATA_ROOT=" + addr,
		}, "\n") + "\n"
	}
	fedEnv, err := writeFederationFiles(fake, dir)
	if err != nil {
		return nil, err
	}
	env += fedEnv
	for path, data := range map[string][]byte{f.serviceAccount: saJSON, f.authorizedUser: userJSON, f.env: []byte(env)} {
		if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("emulator: write %s: %w", path, err)
		}
	}
	return f, nil
}

func writeState(fake *fakegoogle.Server, path string) error {
	data, err := fake.MarshalState()
	if err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("emulator: save state %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes s for POSIX sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
