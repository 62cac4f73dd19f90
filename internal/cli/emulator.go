package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/emulator"
)

// defaultEmulatorListen is --listen's default.
const defaultEmulatorListen = "127.0.0.1:8086"

type emulatorOptions struct {
	listen             string
	metadataListen     string
	httpsProxy         string // --https-proxy
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
	noConsole          bool   // --no-console
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

A web console at /_gcptoken/console/ on the same address shows every request
the fake answers (what the program sent, what Google said, each JWT decoded,
secrets masked), the identities and IAM grants, the tokens issued, and the
fault rules and clock, and edits them while the emulator runs. It answers
only browsers on this machine; --no-console leaves it out.

Web pages are kept out: the fake and its metadata server answer only
requests addressed to an IP address, localhost, their --listen host or an
--allow-host name (others get 421: a page that rebinds its DNS name to this
address sends its own name); the metadata server also answers
metadata.google.internal. Requests a browser marks as coming from another
site get 403 from the metadata server and, unless they only read, from the
fake; the consent page (Allow / Deny) accepts only its own form.`,
		Example: `  gcptoken emulator --state-dir ./fake-google &
  gcptoken emulator wait --state-dir ./fake-google
  . ./fake-google/env.sh
  gcptoken curl -X POST -H 'Content-Type: application/json' -d '{"start": 1, "end": 5}' "$GCPTOKEN_SAMPLE_URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return emulatorRun(cmd.Context(), app, o)
		},
	}
	cmd.AddCommand(newEmulatorWaitCmd(app))
	cmd.Flags().StringVar(&o.listen, "listen", defaultEmulatorListen, "listen `ADDR` (host:port; loopback by default)")
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
	cmd.Flags().BoolVar(&o.noConsole, "no-console", false, "do not serve the web console (/_gcptoken/console/ on the --listen address)")
	cmd.Flags().DurationVar(&o.clockSkew, "clock-skew", 0, "run the fake's clock `DURATION` ahead (negative: behind) of this machine's, for issued tokens and assertion checks")
	return cmd
}

func emulatorRun(ctx context.Context, app *App, o *emulatorOptions) error {
	opts, err := o.emulatorOptions(app)
	if err != nil {
		return err
	}
	em, err := emulator.New(opts)
	if isListenError(err) {
		flag, addr := listenFlag(err, [][2]string{{"--listen", o.listen}, {"--metadata-listen", o.metadataListen}, {"--https-proxy", o.httpsProxy}})
		return listenError(strings.TrimSpace("emulator: "+flag), addr, err)
	}
	if err != nil {
		return o.flagError(err)
	}
	printEmulatorInfo(app.Out, em.Info(), o.universe != "")
	if err := em.Serve(ctx); err != nil {
		return err
	}
	fmt.Fprintln(app.Out, "Stopped.")
	return nil
}

// emulatorOptions turns the flags into the library's options, checking
// the syntax the flags add (MEMBER=SA, fault specs).
func (o *emulatorOptions) emulatorOptions(app *App) (*emulator.Options, error) {
	if o.httpsProxy == "" && o.caDir != "" {
		return nil, usagef("--ca-dir %q: only used with --https-proxy", o.caDir)
	}
	logger := slog.New(slog.NewTextHandler(app.Err, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.quiet {
		logger = slog.New(slog.NewTextHandler(app.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	opts := &emulator.Options{
		Listen: o.listen, MetadataListen: o.metadataListen, HTTPSProxyListen: o.httpsProxy, CADir: o.caDir,
		StateDir: o.stateDir, UniverseDomain: o.universe, AllowedHosts: o.allowHosts,
		LifetimeExtensions: o.lifetimeExtensions, FaultSeed: o.faultSeed, ClockSkew: o.clockSkew,
		DisableConsole: o.noConsole, Now: app.Now, Logger: logger,
	}
	var err error
	if opts.TokenCreators, err = parseGrants("--token-creator", o.tokenCreators); err != nil {
		return nil, err
	}
	if opts.RevokedTokenCreators, err = parseGrants("--revoke-token-creator", o.revokedCreators); err != nil {
		return nil, err
	}
	for _, d := range o.domainDelegations {
		sa, scopes, ok := strings.Cut(d, "=")
		if !ok || sa == "" || scopes == "" {
			return nil, usagef("--domain-delegation %q: want SERVICE_ACCOUNT=SCOPE[,SCOPE…]", d)
		}
		opts.DomainDelegations = append(opts.DomainDelegations, emulator.Delegation{ServiceAccount: sa, Scopes: parseScopes([]string{scopes})})
	}
	for _, spec := range o.faults {
		f, err := fakegoogle.ParseFault(spec)
		if err != nil {
			return nil, usagef("--%v", err)
		}
		opts.Faults = append(opts.Faults, f)
	}
	return opts, nil
}

// parseGrants reads MEMBER=SERVICE_ACCOUNT flag values.
func parseGrants(flag string, values []string) ([]emulator.Grant, error) {
	var grants []emulator.Grant
	for _, g := range values {
		member, sa, ok := strings.Cut(g, "=")
		if !ok || member == "" || sa == "" {
			return nil, usagef("%s %q: want MEMBER=SERVICE_ACCOUNT", flag, g)
		}
		grants = append(grants, emulator.Grant{Member: member, ServiceAccount: sa})
	}
	return grants, nil
}

// flagError names the flag of a bad emulator.Options field, with the value
// as the user gave it.
func (o *emulatorOptions) flagError(err error) error {
	var oe *emulator.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	flags := map[string]struct {
		name   string
		values []string
	}{
		"Listen": {"--listen", nil}, "MetadataListen": {"--metadata-listen", nil},
		"HTTPSProxyListen": {"--https-proxy", nil}, "CADir": {"--ca-dir", nil},
		"StateDir": {"--state-dir", nil}, "UniverseDomain": {"--universe-domain", nil},
		"AllowedHosts":         {"--allow-host", nil},
		"TokenCreators":        {"--token-creator", o.tokenCreators},
		"RevokedTokenCreators": {"--revoke-token-creator", o.revokedCreators},
		"LifetimeExtensions":   {"--lifetime-extension", o.lifetimeExtensions},
		"DomainDelegations":    {"--domain-delegation", o.domainDelegations},
		"Faults":               {"--fault", o.faults},
	}
	f, ok := flags[oe.Field]
	if !ok {
		return err
	}
	value := oe.Value
	if oe.Index < len(f.values) {
		value = f.values[oe.Index]
	}
	if value == "" {
		return usagef("%s: %v", f.name, oe.Err)
	}
	return usagef("%s %q: %v", f.name, value, oe.Err)
}

// printEmulatorInfo prints where the emulator serves and what it wrote.
func printEmulatorInfo(w io.Writer, info emulator.Info, universe bool) {
	fmt.Fprintf(w, "Fake Google listening on %s\n", info.URL)
	fmt.Fprintf(w, "  state directory:      %s\n", info.StateDir)
	if universe {
		fmt.Fprintf(w, "  universe domain:      %s (keys sign their own JWTs)\n", info.UniverseDomain)
	}
	fmt.Fprintf(w, "  service account key:  %s (%s)\n", info.ServiceAccountFile, fakegoogle.DefaultServiceAccount)
	fmt.Fprintf(w, "  user credentials:     %s (%s)\n", info.AuthorizedUserFile, fakegoogle.DefaultUser)
	fmt.Fprintf(w, "  sample service:       %s (needs an ID token with that audience)\n", info.SampleServiceURL)
	if info.MetadataAddr != "" {
		fmt.Fprintf(w, "  metadata server:      http://%s (as %s)\n", info.MetadataAddr, fakegoogle.DefaultServiceAccount)
	}
	if info.HTTPSProxyAddr != "" {
		fmt.Fprintf(w, "  HTTPS proxy:          http://%s (Google's host names; CA %s)\n", info.HTTPSProxyAddr, info.CAFile)
	}
	if info.ConsoleURL != "" {
		fmt.Fprintf(w, "  console:              %s (every request, token and grant, in a browser)\n", info.ConsoleURL)
	}
	fmt.Fprintf(w, "Point tools at it with:  . %s\n", info.EnvFile)
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
}
