package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/transport"
)

// get sends GET url through client and fails the test unless it answers 200.
func get(t testing.TB, client *http.Client, url string, hdr http.Header) {
	t.Helper()
	if err := tryGet(client, url, hdr); err != nil {
		t.Fatal(err)
	}
}

// tryGet is get for goroutines, which must not call t.Fatal.
func tryGet(client *http.Client, url string, hdr http.Header) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d; want 200", url, resp.StatusCode)
	}
	return nil
}

// TestTokenKinds checks what reaches the upstream for each kind of token,
// with real credentials against the fake. The subtests share one upstream,
// so they run one after another.
func TestTokenKinds(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	creds := saCreds(t, fake, nil)
	up := newRecorder(t, nil)

	tests := []struct {
		name       string
		opts       transport.Options
		header     string      // where the token must be
		callerHdr  http.Header // the caller's own headers
		wantAud    string      // "" for an access token
		wantOthers http.Header // other headers the upstream must see
	}{
		{
			name:   "access token",
			opts:   transport.Options{AllowedHosts: []string{hostOf(t, up.URL)}},
			header: "Authorization",
		},
		{
			name:    "ID token, explicit audience with a path",
			opts:    transport.Options{Kind: gcptoken.IDToken, Audience: up.URL + "/fn"},
			header:  "Authorization",
			wantAud: up.URL + "/fn",
		},
		{
			name:    "ID token, per-request audience is scheme://host",
			opts:    transport.Options{Kind: gcptoken.IDToken},
			header:  "Authorization",
			wantAud: up.URL,
		},
		{
			name:       "X-Serverless-Authorization leaves Authorization to the app",
			opts:       transport.Options{Kind: gcptoken.IDToken, Header: "x-serverless-authorization"},
			header:     "X-Serverless-Authorization",
			callerHdr:  http.Header{"Authorization": {"Bearer app-token"}},
			wantAud:    up.URL,
			wantOthers: http.Header{"Authorization": {"Bearer app-token"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := credsClient(t, creds, tt.opts)
			get(t, client, up.URL+"/x?q=1", tt.callerHdr)
			h := up.last(t)
			got := h.Get(tt.header)
			if tt.wantAud == "" {
				if !strings.HasPrefix(got, "Bearer ya29.") {
					t.Errorf("got %s = %q; want an access token", tt.header, got)
				}
			} else if aud := claims(t, got)["aud"]; aud != tt.wantAud {
				t.Errorf("got aud = %q; want %q", aud, tt.wantAud)
			}
			for k := range tt.wantOthers {
				if got, want := h.Get(k), tt.wantOthers.Get(k); got != want {
					t.Errorf("got %s = %q; want %q", k, got, want)
				}
			}
		})
	}
}

// TestPerRequestAudience checks that each origin gets a token for itself,
// normalised as Cloud Run writes audiences. No network: the base is a stub,
// only the fake's token endpoint is called.
func TestPerRequestAudience(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	base := &stubBase{}
	client := credsClient(t, saCreds(t, fake, nil), transport.Options{Kind: gcptoken.IDToken, Base: base})
	tests := []struct{ url, wantAud string }{
		{"https://svc-a.run.app/x", "https://svc-a.run.app"},
		{"https://SVC-A.run.app:443/y?z", "https://svc-a.run.app"},
		{"https://svc-b.run.app/", "https://svc-b.run.app"},
		{"https://svc-b.run.app:8443/", "https://svc-b.run.app:8443"},
		{"http://[::1]:8080/", "http://[::1]:8080"},
	}
	for _, tt := range tests {
		get(t, client, tt.url, nil)
		reqs := base.requests()
		if aud := claims(t, reqs[len(reqs)-1].Header.Get("Authorization"))["aud"]; aud != tt.wantAud {
			t.Errorf("GET %s: got aud = %q; want %q", tt.url, aud, tt.wantAud)
		}
	}
	// Four audiences; the second svc-a request is served from the cache.
	if n := fake.RequestCount("/token"); n != 4 {
		t.Errorf("got %d token requests; want 4 (one per audience)", n)
	}
}

// TestQuotaProject checks X-Goog-User-Project: sent with access tokens
// when set, never over the caller's own. (credentials' NewClient tests the
// credential's quota project as the default.)
func TestQuotaProject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      transport.Options
		callerHdr string
		want      string // "" means no header
	}{
		{name: "none", opts: transport.Options{TokenProvider: &fakeTokens{}}},
		{name: "with a TokenProvider", opts: transport.Options{TokenProvider: &fakeTokens{}, QuotaProject: "opt"}, want: "opt"},
		{name: "request's own header wins", opts: transport.Options{TokenProvider: &fakeTokens{}, QuotaProject: "opt"}, callerHdr: "mine", want: "mine"},
		{name: "not with ID tokens", opts: transport.Options{TokenProvider: &fakeTokens{kind: gcptoken.IDToken}, Kind: gcptoken.IDToken, Audience: "https://svc.run.app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &stubBase{}
			opts := tt.opts
			opts.Base = base
			client, err := transport.NewClient(&opts)
			if err != nil {
				t.Fatal(err)
			}
			var hdr http.Header
			if tt.callerHdr != "" {
				hdr = http.Header{"X-Goog-User-Project": {tt.callerHdr}}
			}
			url := "https://storage.googleapis.com/b"
			if opts.Kind == gcptoken.IDToken {
				url = "https://svc.run.app/"
			}
			get(t, client, url, hdr)
			h := base.requests()[0].Header
			if h.Get("Authorization") == "" {
				t.Fatal("no Authorization header")
			}
			if got := h.Values("X-Goog-User-Project"); !reflect.DeepEqual(got, nonEmpty(tt.want)) {
				t.Errorf("got X-Goog-User-Project = %q; want %q", got, nonEmpty(tt.want))
			}
		})
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// TestRedirects checks that the token never follows a redirect to another
// origin (here: another port of 127.0.0.1), and does follow one to the same
// origin, whether the client is NewClient's or a plain one.
func TestRedirects(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	creds := saCreds(t, fake, nil)
	b := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	})
	var a *recorder
	a = newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/cross":
			http.Redirect(w, r, b.URL+"/final", http.StatusFound)
		case "/cross-307":
			http.Redirect(w, r, b.URL+"/final", http.StatusTemporaryRedirect)
		case "/bounce": // A → B → A: once away, the token stays away
			http.Redirect(w, r, b.URL+"/back?to="+url.QueryEscape(a.URL+"/final"), http.StatusFound)
		default:
			io.WriteString(w, "ok")
		}
	})
	bothHosts := []string{hostOf(t, a.URL), hostOf(t, b.URL)}

	modes := []struct {
		name   string
		opts   transport.Options
		header string
	}{
		{"access token, both hosts allowed", transport.Options{AllowedHosts: bothHosts}, "Authorization"},
		{"ID token, per-request audience", transport.Options{Kind: gcptoken.IDToken}, "Authorization"},
		{"ID token, explicit audience, both hosts allowed", transport.Options{Kind: gcptoken.IDToken, Audience: a.URL, AllowedHosts: bothHosts}, "Authorization"},
		{"X-Serverless-Authorization", transport.Options{Kind: gcptoken.IDToken, Header: transport.HeaderServerlessAuthorization}, "X-Serverless-Authorization"},
	}
	paths := []struct {
		path      string
		callerSet bool // the caller sets the header itself
		wantA     bool // A's final request has the header
		wantB     bool // B's request has the header
		wantValue string
	}{
		{path: "/same", wantA: true},
		{path: "/cross", wantB: false},
		{path: "/cross-307", wantB: false},
		{path: "/bounce", wantA: false, wantB: false},
		{path: "/cross", callerSet: true, wantB: false},
		{path: "/same", callerSet: true, wantA: true, wantValue: "Bearer caller"},
	}
	for _, m := range modes {
		for _, client := range []string{"NewClient", "plain http.Client"} {
			for _, p := range paths {
				name := m.name + "/" + client + p.path
				if p.callerSet {
					name += "/caller's header"
				}
				// Sequential: the subtests share A and B.
				t.Run(name, func(t *testing.T) {
					c := credsClient(t, creds, m.opts)
					if client != "NewClient" {
						c = &http.Client{Transport: c.Transport}
					}
					var hdr http.Header
					if p.callerSet {
						hdr = http.Header{m.header: {"Bearer caller"}}
					}
					nA, nB := len(a.requests()), len(b.requests())
					get(t, c, a.URL+p.path, hdr)
					reqA, reqB := a.requests()[nA:], b.requests()[nB:]
					if len(reqA) == 0 || reqA[0].Get(m.header) == "" {
						t.Fatalf("A's first request has no %s", m.header)
					}
					if p.path != "/cross" && p.path != "/cross-307" {
						final := reqA[len(reqA)-1]
						if got := final.Get(m.header); (got != "") != p.wantA {
							t.Errorf("A's final request: got %s = %q; want present = %v", m.header, got, p.wantA)
						} else if p.wantValue != "" && got != p.wantValue {
							t.Errorf("A's final request: got %s = %q; want %q", m.header, got, p.wantValue)
						}
					}
					for _, h := range reqB {
						if got := h.Get(m.header); (got != "") != p.wantB {
							t.Errorf("B: got %s = %q; want present = %v", m.header, got, p.wantB)
						}
					}
					if p.path != "/same" && len(reqB) == 0 {
						t.Error("B got no request")
					}
				})
			}
		}
	}
}

// TestRequestNotMutated checks the RoundTripper contract: the caller's
// request is left as it was.
func TestRequestNotMutated(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, nil)
	tr, err := transport.NewTransport(&transport.Options{
		TokenProvider: &fakeTokens{}, QuotaProject: "qp", AllowedHosts: []string{hostOf(t, up.URL)},
	})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, up.URL+"/x?y=1", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Custom", "v")
	wantHeader, wantURL := req.Header.Clone(), *req.URL
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !reflect.DeepEqual(req.Header, wantHeader) {
		t.Errorf("got request header %v after RoundTrip; want %v", req.Header, wantHeader)
	}
	if *req.URL != wantURL {
		t.Errorf("got request URL %v after RoundTrip; want %v", req.URL, &wantURL)
	}
	if got := up.last(t).Get("Authorization"); got != "Bearer fake-token" {
		t.Errorf("got upstream Authorization = %q; want %q", got, "Bearer fake-token")
	}
}

// TestCallerHeaderPassesThrough checks that a request that already has the
// configured header is sent untouched, without asking for a token.
func TestCallerHeaderPassesThrough(t *testing.T) {
	t.Parallel()
	tokens := &fakeTokens{}
	base := &stubBase{}
	client, err := transport.NewClient(&transport.Options{TokenProvider: tokens, QuotaProject: "qp", Base: base})
	if err != nil {
		t.Fatal(err)
	}
	get(t, client, "https://storage.googleapis.com/", http.Header{"Authorization": {"Basic dXNlcjpwdw=="}})
	h := base.requests()[0].Header
	if got := h.Get("Authorization"); got != "Basic dXNlcjpwdw==" {
		t.Errorf("got Authorization = %q; want the caller's", got)
	}
	if got := h.Get("X-Goog-User-Project"); got != "" {
		t.Errorf("got X-Goog-User-Project = %q; want none on a passed-through request", got)
	}
	if n := tokens.calls.Load(); n != 0 {
		t.Errorf("got %d token fetches; want 0", n)
	}
}

// TestFailures checks that every refusal is an error, that the upstream is
// never called, and that the request body is closed.
func TestFailures(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		opts    transport.Options
		url     string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{
			name:    "token error",
			opts:    transport.Options{TokenProvider: &fakeTokens{err: errBoom}},
			url:     "https://storage.googleapis.com/",
			wantErr: errBoom,
		},
		{
			name:    "credential refused",
			opts:    transport.Options{TokenProvider: &fakeTokens{err: &gcptoken.Error{Op: "fetch", StatusCode: 400, Code: "invalid_grant"}}},
			url:     "https://storage.googleapis.com/",
			wantErr: gcptoken.ErrInvalidCredentials,
		},
		{
			name:    "host not allowed",
			opts:    transport.Options{TokenProvider: &fakeTokens{}},
			url:     "https://example.com/",
			wantErr: transport.ErrNotAllowed,
		},
		{
			name:    "plain http",
			opts:    transport.Options{TokenProvider: &fakeTokens{}},
			url:     "http://storage.googleapis.com/",
			wantErr: transport.ErrNotAllowed,
		},
		{
			name:    "access token where an ID token was wanted",
			opts:    transport.Options{TokenProvider: &fakeTokens{kind: gcptoken.AccessToken}, Kind: gcptoken.IDToken, Audience: "https://svc.run.app"},
			url:     "https://svc.run.app/",
			wantErr: nil, // any error
		},
		{
			name: "caller gives up while the token is fetched",
			opts: transport.Options{TokenProvider: &fakeTokens{block: make(chan struct{})}},
			url:  "https://storage.googleapis.com/",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 20*time.Millisecond)
			},
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if ft, ok := tt.opts.TokenProvider.(*fakeTokens); ok && ft.block != nil {
				t.Cleanup(func() { close(ft.block) })
			}
			base := &stubBase{}
			opts := tt.opts
			opts.Base = base
			client, err := transport.NewClient(&opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx(ctx)
				defer cancel()
			}
			body := &trackedBody{Reader: strings.NewReader("payload")}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tt.url, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("got no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v; want one matching %v", err, tt.wantErr)
			}
			if n := len(base.requests()); n != 0 {
				t.Errorf("upstream got %d requests; want 0", n)
			}
			if !body.closed.Load() {
				t.Error("request body was not closed")
			}
		})
	}
}

// TestConcurrentRequestsShareOneFetch checks that the cache coalesces.
func TestConcurrentRequestsShareOneFetch(t *testing.T) {
	t.Parallel()
	up := newRecorder(t, nil)
	tokens := &fakeTokens{delay: 50 * time.Millisecond}
	client, err := transport.NewClient(&transport.Options{TokenProvider: tokens, AllowedHosts: []string{hostOf(t, up.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := tryGet(client, up.URL, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := tokens.calls.Load(); got != 1 {
		t.Errorf("got %d token fetches for %d concurrent requests; want 1", got, n)
	}
	if got := len(up.requests()); got != n {
		t.Errorf("upstream got %d requests; want %d", got, n)
	}
}

// TestConcurrentPerRequestAudiences checks coalescing per audience, against
// the fake's token endpoint.
func TestConcurrentPerRequestAudiences(t *testing.T) {
	t.Parallel()
	fake := startFake(t)
	client := credsClient(t, saCreds(t, fake, nil), transport.Options{Kind: gcptoken.IDToken, Base: &stubBase{}})
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			if err := tryGet(client, []string{"https://a.run.app/", "https://b.run.app/", "https://c.run.app/"}[i%3], nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := fake.RequestCount("/token"); n != 3 {
		t.Errorf("got %d token requests for 3 audiences; want 3", n)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	tp := &fakeTokens{}
	perAudience := func(string) (gcptoken.TokenProvider, error) { return tp, nil }
	tests := []struct {
		name string
		opts transport.Options
		want string // part of the error
	}{
		{"no provider", transport.Options{}, "TokenProvider is required"},
		{"both providers", transport.Options{TokenProvider: tp, ProviderForAudience: perAudience, Kind: gcptoken.IDToken}, "mutually exclusive"},
		{"per-audience access tokens", transport.Options{ProviderForAudience: perAudience}, "ProviderForAudience makes ID tokens"},
		{"per-audience with an audience", transport.Options{ProviderForAudience: perAudience, Kind: gcptoken.IDToken, Audience: "https://x"}, "for one Audience"},
		{"unknown kind", transport.Options{TokenProvider: tp, Kind: "refresh_token"}, `Kind "refresh_token"`},
		{"bad header", transport.Options{TokenProvider: tp, Header: "X-Auth"}, `Header "X-Auth"`},
		{"audience with access token", transport.Options{TokenProvider: tp, Audience: "https://x"}, "Audience is for ID tokens"},
		{"quota project with ID token", transport.Options{TokenProvider: tp, Kind: gcptoken.IDToken, Audience: "https://x", QuotaProject: "p"}, "QuotaProject is for access tokens"},
		{"ID-token provider without destination", transport.Options{TokenProvider: tp, Kind: gcptoken.IDToken}, "set Options.Audience or Options.AllowedHosts"},
		{"non-URL audience without AllowedHosts", transport.Options{TokenProvider: tp, Kind: gcptoken.IDToken, Audience: "my-client.apps.googleusercontent.com"}, "set Options.AllowedHosts"},
		{"AllowedHosts URL", transport.Options{TokenProvider: tp, AllowedHosts: []string{"https://x.example.com"}}, "not a URL"},
		{"AllowedHosts empty entry", transport.Options{TokenProvider: tp, AllowedHosts: []string{""}}, "empty host"},
		{"AllowedHosts bad port", transport.Options{TokenProvider: tp, AllowedHosts: []string{"x.example.com:http"}}, "port must be"},
		{"AllowedHosts bad wildcard", transport.Options{TokenProvider: tp, AllowedHosts: []string{"api.*.com"}}, "not a valid host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := transport.NewTransport(&tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v; want one containing %q", err, tt.want)
			}
		})
	}
}

// TestAllowedHosts checks which URLs get a token under each policy. No
// network: the base is a stub.
func TestAllowedHosts(t *testing.T) {
	t.Parallel()
	access := func(hosts ...string) transport.Options {
		return transport.Options{TokenProvider: &fakeTokens{}, AllowedHosts: hosts}
	}
	id := func(aud string, hosts ...string) transport.Options {
		return transport.Options{TokenProvider: &fakeTokens{kind: gcptoken.IDToken}, Kind: gcptoken.IDToken, Audience: aud, AllowedHosts: hosts}
	}
	tests := []struct {
		name string
		opts transport.Options
		url  string
		want bool // token sent; else ErrNotAllowed
	}{
		{"access default: a Google API", access(), "https://storage.googleapis.com/b/o", true},
		{"access default: regional API, explicit port", access(), "https://us-central1-aiplatform.googleapis.com:443/v1", true},
		{"access default: upper case and trailing dot", access(), "https://STORAGE.googleapis.com./", true},
		{"access default: not the apex", access(), "https://googleapis.com/", false},
		{"access default: look-alike", access(), "https://evilgoogleapis.com/", false},
		{"access default: suffix trick", access(), "https://storage.googleapis.com.evil.example/", false},
		{"access default: other host", access(), "https://example.com/", false},
		{"access default: plain http", access(), "http://storage.googleapis.com/", false},
		{"AllowHTTP", transport.Options{TokenProvider: &fakeTokens{}, AllowHTTP: true}, "http://storage.googleapis.com/", true},
		{"host entry, any port", access("api.example.com"), "https://API.example.com:8443/", true},
		{"host:port entry, other port", access("api.example.com:443"), "https://api.example.com:8443/", false},
		{"host:port entry, default port", access("api.example.com:443"), "https://api.example.com/", true},
		{"wildcard with port", access("*.example.com:8443"), "https://a.b.example.com:8443/", true},
		{"star", access("*"), "https://anything.example/", true},
		{"star still https only", access("*"), "http://anything.example/", false},
		{"loopback over http", access("localhost"), "http://localhost:8080/", true},
		{"IPv6 loopback over http", access("::1"), "http://[::1]:8080/", true},
		{"not http(s)", access("*"), "ftp://files.example/", false},
		{"ID audience: its host", id("https://svc-x.a.run.app"), "https://svc-x.a.run.app/path", true},
		{"ID audience: other port", id("https://svc-x.a.run.app"), "https://svc-x.a.run.app:8443/", false},
		{"ID audience: other host", id("https://svc-x.a.run.app"), "https://svc-y.a.run.app/", false},
		{"ID function URL audience: its host", id("https://region-proj.cloudfunctions.net/fn"), "https://region-proj.cloudfunctions.net/fn", true},
		{"ID non-URL audience with AllowedHosts", id("123-abc.apps.googleusercontent.com", "iap.example.com"), "https://iap.example.com/", true},
		{"ID AllowedHosts replace the audience's host", id("https://svc-x.a.run.app", "other.example.com"), "https://svc-x.a.run.app/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &stubBase{}
			opts := tt.opts
			opts.Base = base
			client, err := transport.NewClient(&opts)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get(tt.url)
			if !tt.want {
				if !errors.Is(err, transport.ErrNotAllowed) {
					t.Errorf("got error %v; want ErrNotAllowed", err)
				}
				if err == nil {
					resp.Body.Close()
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v; want a token sent", err)
			}
			resp.Body.Close()
			if got := base.requests()[0].Header.Get("Authorization"); got != "Bearer fake-token" {
				t.Errorf("got Authorization = %q; want the token", got)
			}
		})
	}
}

func TestHostPolicy(t *testing.T) {
	t.Parallel()
	p, err := transport.NewHostPolicy([]string{"*.googleapis.com", "api.example.com:8443"}, false, "the test's list")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url     string
		allowed bool
	}{
		{"https://storage.googleapis.com/b", true},
		{"https://STORAGE.googleapis.com./b", true},
		{"https://googleapis.com/", false},
		{"https://api.example.com:8443/", true},
		{"https://api.example.com/", false},
		{"http://storage.googleapis.com/", false},
		{"https://evil.example/", false},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		err := p.Check(u, "an access token")
		if (err == nil) != tt.allowed {
			t.Errorf("Check(%s) = %v; want allowed %v", tt.url, err, tt.allowed)
		}
		if err != nil && (!errors.Is(err, transport.ErrNotAllowed) || !strings.Contains(err.Error(), "the test's list") && strings.HasPrefix(tt.url, "https")) {
			t.Errorf("Check(%s) = %v; want transport.ErrNotAllowed naming where the list came from", tt.url, err)
		}
	}
	if _, err := transport.NewHostPolicy([]string{"https://x/"}, false, ""); err == nil {
		t.Error("NewHostPolicy accepted a URL as a host")
	}
}

func TestSameOriginAndLoopback(t *testing.T) {
	t.Parallel()
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"https://Example.com/a", "https://example.com:443/b", true},
		{"https://example.com/", "http://example.com/", false},
		{"https://example.com/", "https://example.com:8443/", false},
		{"https://example.com/", "https://other.example/", false},
	} {
		if got := transport.SameOrigin(parse(tt.a), parse(tt.b)); got != tt.same {
			t.Errorf("SameOrigin(%s, %s) = %v; want %v", tt.a, tt.b, got, tt.same)
		}
	}
	for s, want := range map[string]bool{"http://localhost:1/": true, "http://127.0.0.2/": true, "http://[::1]:8/": true, "https://example.com/": false} {
		if got := transport.IsLoopback(parse(s)); got != want {
			t.Errorf("IsLoopback(%s) = %v; want %v", s, got, want)
		}
	}
}
