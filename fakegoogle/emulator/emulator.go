package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/console"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
	"github.com/gcptoken/gcptoken/internal/httpserve"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// DefaultListen is the fake's address when Options.Listen is empty: any
// free loopback port.
const DefaultListen = "127.0.0.1:0"

// Options configures an Emulator. The zero value serves the fake alone on
// a free loopback port, with its files in a new temporary directory.
type Options struct {
	// Listen is the fake's address, host:port. Optional; default
	// DefaultListen. A host name (not an address) is also a name the fake
	// answers to.
	Listen string
	// MetadataListen is the address of a GCE metadata server for
	// fakegoogle.DefaultServiceAccount. Optional; "" serves none.
	MetadataListen string
	// HTTPSProxyListen is the address of an HTTP proxy that serves the fake
	// under Google's real host names over TLS (googlehosts); the
	// credential files then name Google's URLs, and env.sh sets the proxy
	// and CA variables. Optional; "" serves none.
	HTTPSProxyListen string
	// CADir holds the proxy's CA (ca.pem, ca-key.pem; created when
	// missing). Optional; default the state directory. Used only with
	// HTTPSProxyListen.
	CADir string
	// StateDir holds the state and the files the emulator writes; it is
	// created (or its mode set to) 0700, as it holds private keys.
	// Optional; default a new temporary directory.
	StateDir string
	// UniverseDomain is the Google Cloud universe the fake stands for
	// (fakegoogle.Options.UniverseDomain): its credential files, its
	// metadata server and the proxy's host names follow it. Optional;
	// default googleapis.com.
	UniverseDomain string
	// AllowedHosts are more names, "name" or "name:port", that the fake and
	// the metadata server answer; requests addressed to any other name get
	// 421 (DNS rebinding). Optional.
	AllowedHosts []string

	// TokenCreators each get roles/iam.serviceAccountTokenCreator on a
	// service account. Kept in the state. Optional.
	TokenCreators []Grant
	// RevokedTokenCreators lose that role. Kept in the state. Optional.
	RevokedTokenCreators []Grant
	// LifetimeExtensions are service accounts whose impersonated tokens may
	// live up to 12 hours (the organization policy). Optional.
	LifetimeExtensions []string
	// DomainDelegations allow domain-wide delegation. Optional.
	DomainDelegations []Delegation

	// Faults are injected into the fake's answers (fakegoogle.ParseFault
	// reads the command's syntax). Optional.
	Faults []fakegoogle.Fault
	// FaultSeed decides which requests probabilistic Faults hit: the same
	// seed gives the same sequence. Optional; default 0.
	FaultSeed uint64
	// ClockSkew runs the fake's clock ahead (negative: behind) of Now, for
	// issued tokens and assertion checks. Optional.
	ClockSkew time.Duration

	// Now is the fake's clock. Optional; default time.Now.
	Now func() time.Time
	// Logger receives the servers' request and warning logs, which never
	// carry tokens. Optional; default discards.
	Logger *slog.Logger
	// RSAKeyBits is the size of the keys the fake generates
	// (fakegoogle.Options.RSAKeyBits). Optional; default 2048.
	RSAKeyBits int
	// DisableConsole leaves out the web console (package console), which
	// is otherwise served on the fake's address under console.DefaultPath
	// to loopback clients (Info.ConsoleURL). Optional.
	DisableConsole bool
}

// Grant is one IAM role binding: Member (an email) on ServiceAccount.
type Grant struct {
	Member, ServiceAccount string
}

// Delegation allows ServiceAccount domain-wide delegation for Scopes.
type Delegation struct {
	ServiceAccount string
	Scopes         []string
}

// OptionError is a bad value of an Options field. Field is the field's
// name ("Listen", "TokenCreators", …), Index the position in a list field
// (0 otherwise), Value the value as given ("" when the message has it).
type OptionError struct {
	Field string
	Index int
	Value string
	Err   error
}

func (e *OptionError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("emulator: Options.%s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("emulator: Options.%s %q: %v", e.Field, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

func optionError(field string, index int, value string, err error) *OptionError {
	return &OptionError{Field: field, Index: index, Value: value, Err: err}
}

// validate checks the fields New can check before doing anything.
func (o *Options) validate() error {
	for _, a := range []struct{ field, addr, example string }{
		{"Listen", o.Listen, "127.0.0.1:8086"},
		{"MetadataListen", o.MetadataListen, "127.0.0.1:8087"},
		{"HTTPSProxyListen", o.HTTPSProxyListen, "127.0.0.1:8443"},
	} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return optionError(a.field, 0, a.addr, fmt.Errorf("want host:port, e.g. %s", a.example))
		}
	}
	if _, err := hostcheck.New(o.AllowedHosts...); err != nil {
		return optionError("AllowedHosts", 0, "", err)
	}
	if o.UniverseDomain != "" {
		if err := endpoints.CheckUniverseDomain(o.UniverseDomain); err != nil {
			return optionError("UniverseDomain", 0, "", err)
		}
	}
	return nil
}

// Emulator is a fake Google with its state directory and listeners, made
// by New and run by Serve.
type Emulator struct {
	fake      *fakegoogle.Server
	log       *slog.Logger
	statePath string
	info      Info

	fakeLn    net.Listener
	fakeHosts *hostcheck.Guard
	mdsLn     net.Listener // nil without Options.MetadataListen
	mds       *metadataserver.Server
	proxyLn   net.Listener // nil without Options.HTTPSProxyListen
	proxy     *googlehosts.Proxy
	console   *console.Console // nil with Options.DisableConsole

	serveOnce sync.Once
	closeOnce sync.Once
}

// Info says where an Emulator serves and what it wrote.
type Info struct {
	// URL is the fake's base URL, e.g. "http://127.0.0.1:8086".
	URL string
	// StateDir is the absolute path of the state directory.
	StateDir string
	// UniverseDomain is the fake's universe, "googleapis.com" by default.
	UniverseDomain string
	// ServiceAccountFile is a key of fakegoogle.DefaultServiceAccount,
	// AuthorizedUserFile credentials of fakegoogle.DefaultUser, EnvFile
	// the env.sh to source.
	ServiceAccountFile, AuthorizedUserFile, EnvFile string
	// SampleServiceURL is the protected sample service, which wants an ID
	// token with that audience.
	SampleServiceURL string
	// MetadataAddr is the metadata server's host:port; "" without one.
	MetadataAddr string
	// HTTPSProxyAddr is the proxy's host:port and CAFile its CA
	// certificate; both "" without the proxy.
	HTTPSProxyAddr, CAFile string
	// ConsoleURL is the web console's address, e.g.
	// "http://127.0.0.1:8086/_gcptoken/console/"; "" when it is disabled,
	// or unreachable because the fake listens on an address that is not
	// loopback (the console answers only loopback clients).
	ConsoleURL string
}

// New checks opts, prepares the state directory, creates the fake (from
// state.json when there is one), applies the IAM changes and faults, binds
// the listeners and writes the credential files, env.sh and state.json.
// A bad option is an *OptionError. The Emulator holds its listeners until
// Serve returns, or Close.
func New(opts *Options) (*Emulator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Emulator{log: o.Logger}
	err := e.prepareFake(&o)
	if err == nil {
		err = e.listen(&o)
	}
	if err == nil {
		err = e.writeFiles(&o)
	}
	if err == nil && !o.DisableConsole {
		err = e.startConsole()
	}
	if err != nil {
		e.Close()
		if o.StateDir == "" && e.info.StateDir != "" {
			os.RemoveAll(e.info.StateDir) // the temporary directory New made
		}
		return nil, err
	}
	return e, nil
}

// prepareFake makes the state directory and the fake, loads the state and
// applies the options that change the fake.
func (e *Emulator) prepareFake(o *Options) error {
	dir, err := prepareStateDir(o.StateDir)
	if err != nil {
		return err
	}
	e.info.StateDir = dir
	e.statePath = filepath.Join(dir, stateFile)
	e.fake, err = fakegoogle.New(&fakegoogle.Options{
		Now: o.Now, Logger: o.Logger, UniverseDomain: o.UniverseDomain, RSAKeyBits: o.RSAKeyBits,
	})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if err := loadState(e.fake, e.statePath); err != nil {
		return err
	}
	if err := applyIAM(e.fake, o); err != nil {
		return err
	}
	return applyFaults(e.fake, o)
}

// listen binds the fake's, the metadata server's and the proxy's
// listeners. The fake's base URL is its bound address.
func (e *Emulator) listen(o *Options) error {
	var err error
	if e.fakeLn, err = net.Listen("tcp", o.Listen); err != nil {
		return fmt.Errorf("emulator: listen on %s: %w", o.Listen, err)
	}
	e.info.URL = "http://" + e.fakeLn.Addr().String()
	e.fake.SetBaseURL(e.info.URL)
	names, _ := hostcheck.ListenNames(o.Listen, o.AllowedHosts) // validate checked them
	e.fakeHosts, _ = hostcheck.New(names...)
	if o.MetadataListen != "" {
		if e.mdsLn, err = net.Listen("tcp", o.MetadataListen); err != nil {
			return fmt.Errorf("emulator: listen on %s: %w", o.MetadataListen, err)
		}
		e.info.MetadataAddr = e.mdsLn.Addr().String()
		names, _ := hostcheck.ListenNames(o.MetadataListen, o.AllowedHosts)
		if e.mds, err = newMetadataServer(e.fake, e.log, names); err != nil {
			return err
		}
	}
	if o.HTTPSProxyListen != "" {
		if e.proxyLn, err = net.Listen("tcp", o.HTTPSProxyListen); err != nil {
			return fmt.Errorf("emulator: HTTPS proxy: listen on %s: %w", o.HTTPSProxyListen, err)
		}
		e.info.HTTPSProxyAddr = e.proxyLn.Addr().String()
	}
	return nil
}

// Fake returns the fake Google the emulator serves, for tests that add
// identities, faults or grants while it runs.
func (e *Emulator) Fake() *fakegoogle.Server { return e.fake }

// Info returns where the emulator serves and what it wrote.
func (e *Emulator) Info() Info { return e.info }

// Serve serves the fake, and the metadata server and the HTTPS proxy when
// configured, until ctx is done or one of them fails; then it shuts them
// all down (httpserve.Serve), saves the state and closes the listeners. It
// returns nil after a shutdown caused by ctx. Serve may be called once.
func (e *Emulator) Serve(ctx context.Context) error {
	err := errors.New("emulator: Serve called twice")
	e.serveOnce.Do(func() { err = e.serve(ctx) })
	return err
}

func (e *Emulator) serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	run := func(name string, serve func(context.Context) error) {
		wg.Go(func() {
			if err := serve(ctx); err != nil {
				once.Do(func() { first = fmt.Errorf("emulator: %s%w", name, err) })
				cancel() // one server down takes the others with it
			}
		})
	}
	run("", e.serveFake)
	if e.mds != nil {
		run("metadata server: ", func(ctx context.Context) error { return e.mds.Serve(ctx, e.mdsLn) })
	}
	if e.proxy != nil {
		run("https proxy: ", func(ctx context.Context) error { return e.proxy.Serve(ctx, e.proxyLn) })
	}
	wg.Wait()
	e.Close() // the listeners of servers that never started, if any
	if err := saveState(e.fake, e.statePath); err != nil && first == nil {
		first = err
	}
	return first
}

// serveFake serves the fake, and the console beside it, behind the host
// check.
func (e *Emulator) serveFake(ctx context.Context) error {
	var handler http.Handler = e.fake
	var opts httpserve.Options
	if e.console != nil {
		handler = e.console.Handler(e.fake)
		opts.Stopping = e.console.Close // its pages' live updates are long polls
	}
	srv := &http.Server{
		Handler:           e.fakeHosts.Handler(handler, "--allow-host"),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	return httpserve.Serve(ctx, srv, e.fakeLn, &opts)
}

// Close releases the listeners of an Emulator that will not Serve; Serve
// releases them itself. It is safe to call more than once.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		if e.console != nil {
			e.console.Close()
		}
		for _, ln := range []net.Listener{e.fakeLn, e.mdsLn, e.proxyLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
	})
	return nil
}
