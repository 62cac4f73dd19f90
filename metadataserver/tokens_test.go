package metadataserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

const (
	tokenPath    = v1Path + "instance/service-accounts/default/token"
	identityPath = v1Path + "instance/service-accounts/default/identity"
	defaultKey   = "https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email"
)

type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	ExpiresIn   json.Number `json:"expires_in"`
	TokenType   string      `json:"token_type"`
}

// getToken fetches target and checks the token response's shape.
func getToken(t *testing.T, s http.Handler, target string) tokenResponse {
	t.Helper()
	w := get(s, target)
	if w.Code != 200 {
		t.Fatalf("GET %s: got status = %d; want 200 (body %q)", target, w.Code, w.Body.String())
	}
	if got := w.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("got Content-Type = %q; want %q", got, "application/json")
	}
	var tr tokenResponse
	dec := json.NewDecoder(w.Body)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil {
		t.Fatalf("decode token response: %v", err)
	}
	if n, err := tr.ExpiresIn.Int64(); err != nil || n <= 0 {
		t.Errorf("got expires_in = %q; want a positive integer", tr.ExpiresIn)
	}
	if tr.AccessToken == "" || tr.TokenType != "Bearer" {
		t.Errorf("got token %+v; want a Bearer token", tr)
	}
	return tr
}

func TestTokenScopes(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, nil)
	tests := []struct {
		name   string
		query  string
		key    string // the fake source's key for this request's scopes
		counts int    // upstream fetches of key after the request
	}{
		{"default scopes", "", defaultKey, 1},
		{"default scopes again", "", defaultKey, 1},
		{"by email", "@email", defaultKey, 1},
		{"the default set, reordered, shares the default key", "?scopes=https://www.googleapis.com/auth/userinfo.email,https://www.googleapis.com/auth/cloud-platform", defaultKey, 1},
		{"empty scopes mean the default", "?scopes=", defaultKey, 1},
		{"a set", "?scopes=a,b", "a,b", 1},
		{"same set, other order", "?scopes=b,a", "a,b", 1},
		{"same set, spaces and duplicates", "?scopes=b,%20a,a", "a,b", 1},
		{"another set", "?scopes=a", "a", 1},
		{"url-encoded commas", "?scopes=a%2Cc", "a,c", 1},
	}
	for _, tt := range tests { // sequential: counts accumulate
		path := tokenPath + tt.query
		if tt.query == "@email" {
			path = v1Path + "instance/service-accounts/" + testEmail + "/token"
		}
		getToken(t, s, path)
		if got := src.count(tt.key); got != tt.counts {
			t.Errorf("%s: got %d upstream fetches for %q; want %d", tt.name, got, tt.key, tt.counts)
		}
	}
	if got := src.made("a,b"); got != 1 {
		t.Errorf("got %d providers built for a,b; want 1", got)
	}
}

func TestTokenExpiresIn(t *testing.T) {
	t.Parallel()
	s, _, clk := newTestServer(t, nil)
	tr := getToken(t, s, tokenPath)
	if tr.ExpiresIn != "3600" {
		t.Errorf("got expires_in = %s; want 3600", tr.ExpiresIn)
	}
	clk.Advance(10*time.Minute + 500*time.Millisecond)
	tr2 := getToken(t, s, tokenPath)
	if tr2.AccessToken != tr.AccessToken || tr2.ExpiresIn != "2999" {
		t.Errorf("got %s expires_in = %s; want the same token with 2999 (whole seconds left)", tr2.AccessToken, tr2.ExpiresIn)
	}
}

// TestMinRemaining checks that a token closer to expiry than MinRemaining is
// never served, and that the stale window refreshes in the background.
func TestMinRemaining(t *testing.T) {
	t.Parallel()
	s, src, clk := newTestServer(t, nil) // MinRemaining 5m, RefreshBefore 10m, lifetime 1h
	first := getToken(t, s, tokenPath)

	// 8 minutes left: stale but usable, served at once, refresh started.
	clk.Advance(52 * time.Minute)
	stale := getToken(t, s, tokenPath)
	if stale.AccessToken != first.AccessToken || stale.ExpiresIn != "480" {
		t.Errorf("got %s (%s s); want the cached token with 480 s left", stale.AccessToken, stale.ExpiresIn)
	}
	waitFor(t, func() bool { return src.count(defaultKey) == 2 })
	fresh := getToken(t, s, tokenPath)
	if fresh.AccessToken == first.AccessToken || fresh.ExpiresIn != "3600" {
		t.Errorf("got %s (%s s) after the refresh; want a new token with 3600 s", fresh.AccessToken, fresh.ExpiresIn)
	}

	// A source whose tokens live less than MinRemaining is never served.
	short, shortSrc, _ := newTestServer(t, nil)
	shortSrc.mu.Lock()
	shortSrc.lifetime = 4 * time.Minute
	shortSrc.mu.Unlock()
	w := get(short, tokenPath)
	if w.Code != http.StatusBadGateway || strings.Contains(w.Body.String(), "ya29") {
		t.Errorf("got %d %q for a token with 4 min left; want 502 without the token", w.Code, w.Body.String())
	}

	// Jumping past MinRemaining (a suspended laptop) refetches, blocking.
	s2, src2, clk2 := newTestServer(t, nil)
	a := getToken(t, s2, tokenPath)
	clk2.Advance(56 * time.Minute)
	b := getToken(t, s2, tokenPath)
	if b.AccessToken == a.AccessToken {
		t.Errorf("got the token with 4 min left served again; want a new one")
	}
	if got := src2.count(defaultKey); got != 2 {
		t.Errorf("got %d fetches; want 2", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, nil)
	aud := "https://svc-abc.a.run.app"
	tests := []struct {
		name  string
		query string
		want  IDTokenRequest // what the Source is asked for
		count int            // upstream fetches for want after the request
	}{
		{"default format is standard", "audience=" + url.QueryEscape(aud), IDTokenRequest{Audience: aud, Format: FormatStandard, Licenses: false}, 1},
		{"explicit standard shares it", "audience=" + url.QueryEscape(aud) + "&format=standard", IDTokenRequest{Audience: aud, Format: FormatStandard, Licenses: false}, 1},
		{"licenses ignored with standard", "audience=" + url.QueryEscape(aud) + "&format=standard&licenses=TRUE", IDTokenRequest{Audience: aud, Format: FormatStandard, Licenses: false}, 1},
		{"full", "format=full&audience=" + url.QueryEscape(aud), IDTokenRequest{Audience: aud, Format: FormatFull, Licenses: false}, 1},
		{"full again", "format=full&audience=" + url.QueryEscape(aud), IDTokenRequest{Audience: aud, Format: FormatFull, Licenses: false}, 1},
		{"full with licenses=FALSE", "format=full&licenses=FALSE&audience=" + url.QueryEscape(aud), IDTokenRequest{Audience: aud, Format: FormatFull, Licenses: false}, 1},
		{"full with licenses", "format=full&licenses=TRUE&audience=" + url.QueryEscape(aud), IDTokenRequest{Audience: aud, Format: FormatFull, Licenses: true}, 1},
		{"licenses=true lower case", "format=full&licenses=true&audience=" + url.QueryEscape(aud), IDTokenRequest{Audience: aud, Format: FormatFull, Licenses: true}, 1},
		// Node sends the audience without URL-encoding it.
		{"unencoded audience (Node)", "format=full&audience=https://other.example/x", IDTokenRequest{Audience: "https://other.example/x", Format: FormatFull, Licenses: false}, 1},
		{"another audience", "audience=b", IDTokenRequest{Audience: "b", Format: FormatStandard, Licenses: false}, 1},
	}
	for _, tt := range tests {
		w := get(s, identityPath+"?"+tt.query)
		if w.Code != 200 {
			t.Fatalf("%s: got status = %d; want 200 (%q)", tt.name, w.Code, w.Body.String())
		}
		if got := w.Header().Get("Content-Type"); strings.Contains(got, "json") || got == "" {
			t.Errorf("%s: got Content-Type = %q; want a text type (not JSON)", tt.name, got)
		}
		if got := w.Body.String(); !strings.HasPrefix(got, "eyJ") || strings.ContainsAny(got, "\n{\"") {
			t.Errorf("%s: got body = %q; want the raw JWT", tt.name, got)
		}
		if got := src.count(idKey(tt.want)); got != tt.count {
			t.Errorf("%s: got %d fetches for %+v; want %d", tt.name, got, tt.want, tt.count)
		}
	}
	if got, want := int(src.total.Load()), 1+4; got != want { // no access token was fetched
		t.Errorf("got %d upstream fetches in all; want %d", got, want)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, nil)
	huge := strings.Repeat("a", 9000)
	manyScopes := make([]string, 65)
	for i := range manyScopes {
		manyScopes[i] = fmt.Sprint("s", i)
	}
	tests := []struct {
		name, target string
		code         int
		body         string
	}{
		{"no audience", identityPath, 400, "non-empty audience parameter required\n"},
		{"empty audience", identityPath + "?audience=", 400, "non-empty audience parameter required\n"},
		{"other params, no audience", identityPath + "?format=full", 400, "non-empty audience parameter required\n"},
		{"bad format", identityPath + "?audience=a&format=compact", 400, "invalid format parameter: want \"standard\" or \"full\"\n"},
		{"bad licenses", identityPath + "?audience=a&format=full&licenses=maybe", 400, "invalid licenses parameter: want \"TRUE\" or \"FALSE\"\n"},
		{"malformed query", identityPath + "?audience=%zz", 400, "malformed query string\n"},
		{"malformed token query", tokenPath + "?scopes=%zz", 400, "malformed query string\n"},
		{"huge query", identityPath + "?audience=" + huge, 414, "query longer than 8192 bytes\n"},
		{"too many scopes", tokenPath + "?scopes=" + strings.Join(manyScopes, ","), 400, "too many scopes (at most 64)\n"},
		{"scope refused by the source", tokenPath + "?scopes=forbidden", 400,
			"cannot serve this token: scope \"forbidden\" is not allowed for this credential\n"},
		{"unknown account token", v1Path + "instance/service-accounts/nobody@example.com/token", 404, ""},
		{"unknown account identity", v1Path + "instance/service-accounts/nobody@example.com/identity?audience=a", 404, ""},
	}
	src.failScopes = "forbidden" // before any concurrent use
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := get(s, tt.target)
			if w.Code != tt.code {
				t.Errorf("got status = %d; want %d", w.Code, tt.code)
			}
			if tt.body != "" && w.Body.String() != tt.body {
				t.Errorf("got body = %q; want %q", w.Body.String(), tt.body)
			}
			if tt.code == 404 && !strings.Contains(w.Body.String(), "Error 404 (Not Found)!!1") {
				t.Errorf("got body = %q; want Google's 404 page", w.Body.String())
			}
			if w.Header().Get("Metadata-Flavor") != "Google" {
				t.Errorf("got no Metadata-Flavor on an error; want Google")
			}
		})
	}
	t.Cleanup(func() {
		// The server is still up and serving.
		if w := get(s, identityPath+"?audience=ok"); w.Code != 200 {
			t.Errorf("after bad requests: got status = %d; want 200", w.Code)
		}
		if got := src.made(idKey(IDTokenRequest{Audience: "a", Format: FormatFull})); got != 0 {
			t.Errorf("got %d providers built for rejected requests; want 0", got)
		}
	})
}

// TestCoalescing: 1000 concurrent cold requests for one key make exactly one
// upstream fetch (and build one provider).
func TestCoalescing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target, key string
	}{
		{"default token", tokenPath, defaultKey},
		{"scoped token", tokenPath + "?scopes=x,y", "x,y"},
		{"identity", identityPath + "?audience=aud&format=full", idKey(IDTokenRequest{Audience: "aud", Format: FormatFull, Licenses: false})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, src, _ := newTestServer(t, nil)
			src.delay = 50 * time.Millisecond
			const n = 1000
			var wg sync.WaitGroup
			start := make(chan struct{})
			bodies := make([]string, n)
			codes := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					w := get(s, tt.target)
					codes[i], bodies[i] = w.Code, w.Body.String()
				}()
			}
			close(start)
			wg.Wait()
			for i := range n {
				if codes[i] != 200 || bodies[i] != bodies[0] {
					t.Fatalf("request %d: got %d %q; want 200 and the same token as request 0 (%q)", i, codes[i], bodies[i], bodies[0])
				}
			}
			if got := src.count(tt.key); got != 1 {
				t.Errorf("got %d upstream fetches; want 1", got)
			}
			if got := src.made(tt.key); got != 1 {
				t.Errorf("got %d providers built; want 1", got)
			}
		})
	}
}

// TestKeysIndependent: a slow fetch for one audience does not hold up
// another key (no global lock across fetches).
func TestKeysIndependent(t *testing.T) {
	t.Parallel()
	slow := &gatedSource{fakeSource: newFakeSource(time.Now), gate: make(chan struct{})}
	s2, err := New(&Options{Source: slow, ServiceAccountEmail: testEmail, ProjectID: testProject})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- get(s2, identityPath+"?audience=slow").Code }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if w := get(s2, identityPath+"?audience=fast"); w.Code != 200 {
		t.Fatalf("got status = %d; want 200", w.Code)
	}
	if w := get(s2, tokenPath); w.Code != 200 {
		t.Fatalf("got status = %d; want 200", w.Code)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("got other keys served in %s while one fetch hangs; want at once", d)
	}
	close(slow.gate)
	if code := <-done; code != 200 {
		t.Errorf("got slow request status = %d; want 200", code)
	}
}

// TestUpstreamTimeout: a request that waits too long gets 504, and the
// fetch, which goes on, serves the next request.
func TestUpstreamTimeout(t *testing.T) {
	t.Parallel()
	slow := &gatedSource{fakeSource: newFakeSource(time.Now), gate: make(chan struct{})}
	s, err := New(&Options{Source: slow, ServiceAccountEmail: testEmail, ProjectID: testProject})
	if err != nil {
		t.Fatal(err)
	}
	s.upstreamWait = 100 * time.Millisecond
	w := get(s, identityPath+"?audience=slow")
	if want := "upstream token fetch failed: no token within 100ms (the fetch goes on in the background)\n"; w.Code != 504 || w.Body.String() != want {
		t.Errorf("got %d %q; want 504 %q", w.Code, w.Body.String(), want)
	}
	close(slow.gate)
	waitFor(t, func() bool {
		return slow.count(idKey(IDTokenRequest{Audience: "slow", Format: FormatStandard, Licenses: false})) == 1
	})
	if w := get(s, identityPath+"?audience=slow"); w.Code != 200 {
		t.Errorf("got status = %d after the fetch finished; want 200", w.Code)
	}
	if got := slow.count(idKey(IDTokenRequest{Audience: "slow", Format: FormatStandard, Licenses: false})); got != 1 {
		t.Errorf("got %d fetches; want 1", got)
	}
}

// TestClientGoneWhileFetching: a client that leaves while its token is
// fetched gets nothing written, and is counted as 499.
func TestClientGoneWhileFetching(t *testing.T) {
	t.Parallel()
	slow := &gatedSource{fakeSource: newFakeSource(time.Now), gate: make(chan struct{})}
	defer close(slow.gate)
	s, err := New(&Options{Source: slow, ServiceAccountEmail: testEmail, ProjectID: testProject})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, testBase+identityPath+"?audience=slow", nil)
	r.Header.Set("Metadata-Flavor", "Google")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Body.Len() != 0 {
		t.Errorf("got body = %q; want none", w.Body.String())
	}
	want := `gcptoken_metadataserver_requests_total{endpoint="identity",code="499"} 1`
	if m := get(s, "/metrics").Body.String(); !strings.Contains(m, want) {
		t.Errorf("got metrics without %q:\n%s", want, m)
	}
}

// gatedSource blocks ID tokens for audience "slow" until gate closes.
type gatedSource struct {
	*fakeSource
	gate chan struct{}
}

func (g *gatedSource) IDTokenProvider(req IDTokenRequest) (gcptoken.TokenProvider, error) {
	p, _ := g.fakeSource.IDTokenProvider(req)
	if req.Audience != "slow" {
		return p, nil
	}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		<-g.gate
		return p.Token(ctx)
	}), nil
}

func TestUpstreamFailureAndRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		code   int
		inBody string
	}{
		{"upstream refuses", &gcptoken.Error{Op: "fetch access token", URL: "https://oauth2.example/token", StatusCode: 400,
			Code: "invalid_grant", Description: "Invalid JWT\nSignature."}, 502, "invalid_grant: Invalid JWT Signature."},
		{"upstream down", &gcptoken.Error{Op: "fetch access token", URL: "https://oauth2.example/token", StatusCode: 503,
			Body: []byte("overloaded")}, 503, "HTTP 503"},
		{"unreachable", gcptoken.NewTransportError("fetch access token", "https://oauth2.example/token",
			errors.New("dial tcp: connection refused")), 503, "connection refused"},
		{"plain error", errors.New("the credential file vanished"), 502, "the credential file vanished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, src, _ := newTestServer(t, nil)
			src.setFail(tt.err)
			for _, target := range []string{tokenPath, identityPath + "?audience=a"} {
				w := get(s, target)
				body := w.Body.String()
				if w.Code != tt.code {
					t.Errorf("%s: got status = %d; want %d (%q)", target, w.Code, tt.code, body)
				}
				if !strings.HasPrefix(body, "upstream token fetch failed: ") || !strings.Contains(body, tt.inBody) ||
					strings.Count(body, "\n") != 1 {
					t.Errorf("%s: got body = %q; want one line containing %q", target, body, tt.inBody)
				}
			}
			src.setFail(nil) // upstream recovers: no restart needed
			getToken(t, s, tokenPath)
			if w := get(s, identityPath+"?audience=a"); w.Code != 200 {
				t.Errorf("after recovery: got identity status = %d; want 200", w.Code)
			}
		})
	}
}

// TestLRU: the key sets are bounded and evict the least recently used key.
func TestLRU(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, func(o *Options) { o.MaxIDTokenAudiences = 3 })
	id := func(aud string) { get(s, identityPath+"?audience="+aud) }
	key := func(aud string) string {
		return idKey(IDTokenRequest{Audience: aud, Format: FormatStandard, Licenses: false})
	}
	id("a")
	id("b")
	id("c")
	id("a") // a is now more recent than b
	id("d") // evicts b
	id("a")
	id("c")
	id("d")
	id("b") // rebuilt
	for aud, want := range map[string]int{"a": 1, "b": 2, "c": 1, "d": 1} {
		if got := src.count(key(aud)); got != want {
			t.Errorf("audience %s: got %d fetches; want %d", aud, got, want)
		}
	}

	for i := range maxAccessKeys + 1 {
		get(s, tokenPath+fmt.Sprintf("?scopes=s%d", i))
	}
	get(s, tokenPath+"?scopes=s0") // evicted, refetched
	get(s, tokenPath)              // the default key is never evicted
	if got := src.count("s0"); got != 2 {
		t.Errorf("got %d fetches of the oldest scope set; want 2", got)
	}
	if got := src.count(defaultKey); got != 1 {
		t.Errorf("got %d fetches of the default scopes; want 1", got)
	}
	s.access.mu.Lock()
	n := s.access.n
	s.access.mu.Unlock()
	if n != maxAccessKeys {
		t.Errorf("got %d cached scope sets; want %d", n, maxAccessKeys)
	}
}

func TestPrewarm(t *testing.T) {
	t.Parallel()
	s, src, _ := newTestServer(t, nil)
	if err := s.Prewarm(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := src.count(defaultKey); got != 1 {
		t.Fatalf("got %d fetches after Prewarm; want 1", got)
	}
	getToken(t, s, tokenPath)
	if got := src.count(defaultKey); got != 1 {
		t.Errorf("got %d fetches after the first request; want 1 (prewarmed)", got)
	}
	src.setFail(errors.New("down"))
	s2, src2, _ := newTestServer(t, nil)
	src2.setFail(errors.New("down"))
	if err := s2.Prewarm(t.Context()); err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("got Prewarm() = %v; want the upstream error", err)
	}
}

// TestRefreshJitterOption checks that Options.RefreshJitter reaches the
// cache: disabled, a refresh starts exactly RefreshBefore (10m) ahead of
// expiry, not earlier.
func TestRefreshJitterOption(t *testing.T) {
	t.Parallel()
	s, src, clk := newTestServer(t, func(o *Options) { o.RefreshJitter = -1 })
	first := getToken(t, s, tokenPath)

	clk.Advance(49*time.Minute + 59*time.Second) // 10m01s left: fresh
	if got := getToken(t, s, tokenPath); got.AccessToken != first.AccessToken {
		t.Fatalf("got a new token with 10m01s left; want the cached one")
	}
	time.Sleep(100 * time.Millisecond) // a background refresh would have started by now
	if got := src.count(defaultKey); got != 1 {
		t.Fatalf("got %d upstream fetches with 10m01s left and jitter disabled; want 1", got)
	}

	clk.Advance(2 * time.Second) // 9m59s left: stale, refresh in the background
	if got := getToken(t, s, tokenPath); got.AccessToken != first.AccessToken {
		t.Errorf("got a new token at once; want the stale one served while the refresh runs")
	}
	waitFor(t, func() bool { return src.count(defaultKey) == 2 })
}

// instanceSource records the Instance of the identity requests it gets.
type instanceSource struct {
	*fakeSource
	got chan *Instance
}

func (s instanceSource) IDTokenProvider(req IDTokenRequest) (gcptoken.TokenProvider, error) {
	s.got <- req.Instance
	return s.fakeSource.IDTokenProvider(req)
}

// TestIdentityInstance checks that a Source is told which VM asks, with
// the defaults applied, so that it can mint Compute Engine's
// google.compute_engine claim.
func TestIdentityInstance(t *testing.T) {
	t.Parallel()
	src := instanceSource{newFakeSource(time.Now), make(chan *Instance, 1)}
	s, err := New(&Options{Source: src, ServiceAccountEmail: testEmail, ProjectID: testProject, Zone: "europe-west1-b", Licenses: []string{"7"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := get(s, identityPath+"?audience=a&format=full"); w.Code != http.StatusOK {
		t.Fatalf("got status %d (%s); want 200", w.Code, w.Body.String())
	}
	in := <-src.got
	body := func(p string) string { return get(s, v1Path+p).Body.String() }
	want := Instance{
		ProjectID: testProject, NumericProjectID: body("project/numeric-project-id"), Zone: "europe-west1-b",
		InstanceID: body("instance/id"), InstanceName: body("instance/name"), CreationTime: in.CreationTime, Licenses: []string{"7"},
	}
	if in.CreationTime.Year() != 2024 || in.CreationTime.Location() != time.UTC {
		t.Errorf("got CreationTime %v; want a UTC time in 2024 by default", in.CreationTime)
	}
	if fmt.Sprint(*in) != fmt.Sprint(want) {
		t.Errorf("got Instance %+v; want %+v", *in, want)
	}
}
