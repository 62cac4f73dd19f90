package oauthflow

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// DefaultTimeout is how long RunInstalled waits for the browser by default.
const DefaultTimeout = 5 * time.Minute

// ErrTimeout means the browser never came back with a code in time.
var ErrTimeout = errors.New("timed out waiting for the sign-in to finish in the browser")

// BrowserMode says how RunInstalled gets the user to the consent page.
type BrowserMode int

const (
	// OpenBrowser opens the system browser (InstalledOptions.Opener) and
	// prints the URL too, for when it does not open.
	OpenBrowser BrowserMode = iota
	// PrintURL only prints the URL; the user opens it in a browser on
	// this machine, which then comes back to the loopback address.
	PrintURL
	// Paste prints the URL for a browser on any machine and reads from
	// InstalledOptions.In the address the browser was redirected to (or
	// just its code), pasted by the user. Google removed the out-of-band
	// ("urn:ietf:wg:oauth:2.0:oob") redirect in 2022, so a loopback
	// redirect URI is used either way; if the browser does run on this
	// machine the redirect completes the sign-in without pasting.
	Paste
)

// InstalledOptions configures RunInstalled.
type InstalledOptions struct {
	// Config is the client (a Desktop app client) and endpoints. Required;
	// Config.Scopes must not be empty.
	Config *Config
	// Params are Google's optional authorization parameters. Set
	// Params.Offline for a refresh token.
	Params AuthParams
	// Host is the loopback address to listen on and redirect to:
	// "127.0.0.1" (default, as RFC 8252 recommends), "::1" or "localhost".
	Host string
	// Port is the loopback port. Optional; 0 picks a free one.
	Port int
	// Browser is how the user gets to the consent page. Optional; default
	// OpenBrowser.
	Browser BrowserMode
	// Opener opens a URL in a browser. Optional; default
	// OpenSystemBrowser. Tests inject one that drives a headless browser.
	Opener func(ctx context.Context, url string) error
	// In is read for the pasted redirect address in Paste mode. Required
	// in Paste mode.
	In io.Reader
	// Out receives the instructions for the user (the URL, what to
	// paste). Optional; default discards. Nothing secret is written.
	Out io.Writer
	// Timeout bounds the wait for the browser. Optional; default
	// DefaultTimeout.
	Timeout time.Duration
	// SuccessPage is the HTML the browser shows after a successful
	// sign-in. Optional; default a short page telling the user to close the
	// tab.
	SuccessPage string
}

func (o *InstalledOptions) validate() error {
	if o.Config == nil {
		return errors.New("oauthflow: InstalledOptions.Config is required")
	}
	if err := o.Config.validate(); err != nil {
		return err
	}
	if len(o.Config.Scopes) == 0 {
		return errors.New("oauthflow: Config.Scopes is required for sign-in")
	}
	switch o.Host {
	case "", "127.0.0.1", "::1", "[::1]", "localhost":
	default:
		return fmt.Errorf("oauthflow: InstalledOptions.Host %q: want a loopback address (127.0.0.1, ::1 or localhost)", o.Host)
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("oauthflow: InstalledOptions.Port %d: want 0 (any free port) to 65535", o.Port)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("oauthflow: InstalledOptions.Timeout %v is negative", o.Timeout)
	}
	switch o.Browser {
	case OpenBrowser, PrintURL:
	case Paste:
		if o.In == nil {
			return errors.New("oauthflow: InstalledOptions.In is required in Paste mode")
		}
	default:
		return fmt.Errorf("oauthflow: unknown BrowserMode %d", o.Browser)
	}
	return nil
}

// ListenError is RunInstalled's failure to listen on the loopback address,
// e.g. because the port is in use.
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen on %s for the sign-in redirect: %v", e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// AddrInUse reports whether the address was taken: EADDRINUSE on Unix,
// WSAEADDRINUSE on Windows, whose syscall.Errno differs.
func (e *ListenError) AddrInUse() bool { return isAddrInUse(e.Err) }

// outcome is how one sign-in ended.
type outcome struct {
	tok *Token
	err error
}

// RunInstalled runs the installed-app (desktop) flow: it listens on a
// loopback port, sends the user to the consent page with a random state
// and a PKCE S256 challenge, waits (blocking, not polling) for the browser
// to be redirected back with a code, checks the state, exchanges the code
// and shows the browser a success or failure page.
//
// The first callback decides the outcome: a wrong state fails the sign-in
// with ErrStateMismatch, Deny with an *AuthorizationError (access_denied).
// The wait ends with ErrTimeout after Timeout, or when ctx is done.
func RunInstalled(ctx context.Context, o *InstalledOptions) (*Token, error) {
	if o == nil {
		return nil, errors.New("oauthflow: InstalledOptions is nil")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	ln, hostPort, err := o.listen()
	if err != nil {
		return nil, err
	}
	redirectURI := "http://" + hostPort + "/"

	flowCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := &loopback{
		cfg:         o.Config,
		state:       randomState(),
		verifier:    oauth2.GenerateVerifier(),
		redirectURI: redirectURI,
		host:        hostPort,
		success:     cmp.Or(o.SuccessPage, defaultSuccessPage),
		ctx:         flowCtx,
		done:        make(chan outcome, 1),
	}
	stop := serveLoopback(f, ln)
	defer func() {
		cancel() // stops an exchange still running in a handler
		stop()
	}()

	timeout := cmp.Or(o.Timeout, DefaultTimeout)
	o.sendUserToBrowser(flowCtx, f, o.Config.AuthCodeURL(redirectURI, f.state, f.verifier, o.Params), timeout)

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-f.done:
		return r.tok, r.err
	case <-timer.C:
		return nil, fmt.Errorf("%w: no answer within %v (the browser never came back to %s)", ErrTimeout, timeout, redirectURI)
	case <-ctx.Done():
		return nil, fmt.Errorf("sign-in canceled: %w", context.Cause(ctx))
	}
}

// listen opens the loopback listener the browser is sent back to, and
// returns it with the host:port the redirect URI names.
func (o *InstalledOptions) listen() (net.Listener, string, error) {
	host := cmp.Or(strings.Trim(o.Host, "[]"), "127.0.0.1")
	addr := net.JoinHostPort(host, strconv.Itoa(o.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", &ListenError{Addr: addr, Err: unwrapOpError(err)}
	}
	return ln, net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)), nil
}

// serveLoopback serves the callback on ln until the returned stop is
// called; stop waits a second for a page still being written.
func serveLoopback(f *loopback, ln net.Listener) (stop func()) {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		<-served
	}
}

// sendUserToBrowser opens the authorization URL, or prints it, as
// o.Browser says; in Paste mode it also starts reading the pasted answer.
func (o *InstalledOptions) sendUserToBrowser(ctx context.Context, f *loopback, authURL string, timeout time.Duration) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	switch o.Browser {
	case OpenBrowser:
		fmt.Fprintf(out, "Opening a browser to sign in. If none opens, visit this URL:\n\n    %s\n\n", authURL)
		open := o.Opener
		if open == nil {
			open = OpenSystemBrowser
		}
		if err := open(ctx, authURL); err != nil {
			fmt.Fprintf(out, "Could not open a browser (%v): open the URL above yourself, on this machine.\n", err)
		}
	case PrintURL:
		fmt.Fprintf(out, "Open this URL in a browser on this machine to sign in:\n\n    %s\n\n", authURL)
	case Paste:
		fmt.Fprintf(out, "Open this URL in a browser, on any machine, to sign in:\n\n    %s\n\n"+
			"After you allow access, the browser goes to %s…, which fails to load unless\n"+
			"the browser runs on this machine. Copy the whole address from its address bar\n"+
			"(or just the value of code=) and paste it here, then press Enter:\n", authURL, f.redirectURI)
		go f.readPasted(o.In)
	}
	fmt.Fprintf(out, "Waiting up to %v for the sign-in to finish…\n", timeout)
}

// unwrapOpError drops net.OpError's "listen tcp ADDR:" prefix, which the
// ListenError message already says.
func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// loopback is the redirect target of one sign-in.
type loopback struct {
	cfg         *Config
	state       string
	verifier    string
	redirectURI string
	host        string // host:port the browser must address
	success     string
	ctx         context.Context

	claimed atomic.Bool // the first callback (or paste) decides
	done    chan outcome
	once    sync.Once
}

func (f *loopback) finish(r outcome) {
	f.once.Do(func() { f.done <- r })
}

// ServeHTTP handles the browser's redirect.
func (f *loopback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Host != f.host {
		// Only the address we redirect to; another Host header means a
		// page elsewhere (DNS rebinding) is talking to us.
		http.Error(w, "wrong host", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if !q.Has("state") && !q.Has("code") && !q.Has("error") {
		writePage(w, http.StatusBadRequest, "Waiting for sign-in", "This address receives the sign-in redirect; it was opened without one. Finish signing in in the other tab.")
		return
	}
	if !f.claimed.CompareAndSwap(false, true) {
		writePage(w, http.StatusConflict, "Sign-in already handled", "This sign-in has already finished. You can close this tab.")
		return
	}
	tok, err := f.complete(q)
	if err != nil {
		writePage(w, http.StatusBadRequest, "Sign-in failed", err.Error())
	} else {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		setPageHeaders(w)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, f.success)
	}
	f.finish(outcome{tok, err})
}

// complete checks a redirect's query and exchanges its code.
func (f *loopback) complete(q url.Values) (*Token, error) {
	code, err := checkCallback(q, f.state)
	if err != nil {
		return nil, err
	}
	return f.cfg.Exchange(f.ctx, code, f.redirectURI, f.verifier)
}

// readPasted reads the user's paste: the full redirect address, or the code
// alone (trusted as typed: PKCE still binds it to this sign-in's verifier).
// It runs until a line decides the sign-in or In ends; a read blocked on a
// terminal outlives the sign-in, which only matters to a long-running
// caller that passes its own In.
func (f *loopback) readPasted(in io.Reader) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !f.claimed.CompareAndSwap(false, true) {
			return
		}
		var tok *Token
		var err error
		if strings.Contains(line, "?") || strings.Contains(line, "://") {
			u, perr := url.Parse(line)
			if perr != nil {
				err = fmt.Errorf("the pasted address is not a URL: %v", perr)
			} else {
				tok, err = f.complete(u.Query())
			}
		} else {
			tok, err = f.cfg.Exchange(f.ctx, line, f.redirectURI, f.verifier)
		}
		f.finish(outcome{tok, err})
		return
	}
	if f.claimed.CompareAndSwap(false, true) {
		f.finish(outcome{nil, errors.New("the input ended before a redirect address or code was pasted")})
	}
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the address carries the code
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
}

var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#202124}h1{font-weight:400}</style>
</head><body><h1 id="status">{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))
})

func writePage(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	setPageHeaders(w)
	w.WriteHeader(status)
	pageTmpl().Execute(w, struct{ Title, Text string }{title, text})
}

const defaultSuccessPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed in</title>
<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#202124}h1{font-weight:400}</style>
</head><body><h1 id="status">Signed in</h1>
<p>The application has your authorization. You can close this tab and return to the terminal.</p></body></html>
`
