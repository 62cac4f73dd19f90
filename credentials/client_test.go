package credentials_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/transport"
)

// startFake serves a fresh fakegoogle of universe ("" for googleapis.com)
// for one test. 1024-bit keys keep key generation fast under -race.
func startFake(t *testing.T, universe string) *fakegoogle.Server {
	t.Helper()
	s, err := fakegoogle.New(&fakegoogle.Options{RSAKeyBits: 1024, UniverseDomain: universe})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	s.SetBaseURL(ts.URL)
	return s
}

// keyCreds returns service-account credentials the fake issued, in the
// environment env.
func keyCreds(t *testing.T, fake *fakegoogle.Server, env map[string]string) *credentials.Credentials {
	t.Helper()
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, &credentials.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// recordingBase answers 200 to every request without a network, and
// records them.
type recordingBase struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (b *recordingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	b.mu.Lock()
	b.reqs = append(b.reqs, r)
	b.mu.Unlock()
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func (b *recordingBase) last(t *testing.T) http.Header {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatal("the base got no request")
	}
	return b.reqs[len(b.reqs)-1].Header
}

func mustGet(t *testing.T, client *http.Client, u string, h http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// jwtClaims decodes the payload of the bearer token in an Authorization
// header.
func jwtClaims(t *testing.T, header string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(header, "Bearer "), ".")
	if len(parts) != 3 {
		t.Fatalf("Authorization %q: want a JWT", header)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNewClientTokens checks that a client sends the token its request
// describes: the default access token, one audience's ID token, or each
// request host's own.
func TestNewClientTokens(t *testing.T) {
	t.Parallel()
	creds := keyCreds(t, startFake(t, ""), nil)
	tests := []struct {
		name    string
		req     *credentials.TokenRequest
		url     string
		wantAud string // "" for an access token
	}{
		{"nil request: access token", nil, "https://storage.googleapis.com/b", ""},
		{"ID token for one audience", &credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: "https://svc-a.run.app"}, "https://svc-a.run.app/x", "https://svc-a.run.app"},
		{"ID token per request host", &credentials.TokenRequest{Kind: gcptoken.IDToken}, "https://SVC-B.run.app:443/y", "https://svc-b.run.app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &recordingBase{}
			client, err := creds.NewClient(tt.req, &transport.Options{Base: base})
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, client, tt.url, nil)
			got := base.last(t).Get("Authorization")
			if tt.wantAud == "" {
				if !strings.HasPrefix(got, "Bearer ya29.") {
					t.Errorf("got Authorization = %q; want an access token", got)
				}
				return
			}
			if aud := jwtClaims(t, got)["aud"]; aud != tt.wantAud {
				t.Errorf("got aud = %v; want %q", aud, tt.wantAud)
			}
		})
	}
}

// TestNewClientQuotaProject: access tokens carry the credential's quota
// project unless the options name another; ID tokens none.
func TestNewClientQuotaProject(t *testing.T) {
	t.Parallel()
	fake := startFake(t, "")
	quotaCreds := keyCreds(t, fake, map[string]string{"GOOGLE_CLOUD_QUOTA_PROJECT": "creds-quota"})
	tests := []struct {
		name  string
		creds *credentials.Credentials
		req   *credentials.TokenRequest
		opts  transport.Options
		url   string
		want  []string
	}{
		{"none", keyCreds(t, fake, nil), nil, transport.Options{}, "https://storage.googleapis.com/", nil},
		{"from credentials", quotaCreds, nil, transport.Options{}, "https://storage.googleapis.com/", []string{"creds-quota"}},
		{"option overrides credentials", quotaCreds, nil, transport.Options{QuotaProject: "opt"}, "https://storage.googleapis.com/", []string{"opt"}},
		{"not with ID tokens", quotaCreds, &credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: "https://svc.run.app"}, transport.Options{}, "https://svc.run.app/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := &recordingBase{}
			opts := tt.opts
			opts.Base = base
			client, err := tt.creds.NewClient(tt.req, &opts)
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, client, tt.url, nil)
			if got := base.last(t).Values("X-Goog-User-Project"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got X-Goog-User-Project = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestNewClientUserScopes checks that user credentials are not asked for
// cloud-platform, which they may not have been granted.
func TestNewClientUserScopes(t *testing.T) {
	t.Parallel()
	fake := startFake(t, "")
	rt, err := fake.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser,
		[]string{credentials.ScopeOpenID, credentials.ScopeUserInfoEmail})
	if err != nil {
		t.Fatal(err)
	}
	js, err := fake.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(js, &credentials.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	base := &recordingBase{}
	client, err := creds.NewClient(nil, &transport.Options{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, client, "https://www.googleapis.com/oauth2/v3/userinfo", nil)
	if got := base.last(t).Get("Authorization"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("got Authorization = %q; want a bearer token", got)
	}
}

// TestNewClientUniverse: a client configured for one universe (by default
// googleapis.com) refuses credentials of another, with the words of
// Google's Go transport; configured for theirs, it sends their self-signed
// JWTs to that universe's hosts only. (Not parallel: it sets
// GOOGLE_CLOUD_UNIVERSE_DOMAIN.)
func TestNewClientUniverse(t *testing.T) {
	const universe = "universe.test"
	creds := keyCreds(t, startFake(t, universe), nil)
	_, err := creds.NewClient(nil, nil)
	want := `the configured universe domain ("googleapis.com") does not match the universe domain found in the credentials ("universe.test")`
	var me *credentials.UniverseMismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), want) || !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Fatalf("NewClient for googleapis.com with a %s key: got %v; want %q", universe, err, want)
	}
	for _, name := range []string{"transport.Options.UniverseDomain", "the environment"} {
		t.Run(name, func(t *testing.T) {
			base := &recordingBase{}
			opts := &transport.Options{UniverseDomain: universe, Base: base}
			if name == "the environment" {
				t.Setenv(credentials.EnvUniverseDomain, universe)
				opts.UniverseDomain = ""
			}
			client, err := creds.NewClient(nil, opts)
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, client, "https://cloudresourcemanager."+universe+"/v1/projects/fake-project", nil)
			if c := jwtClaims(t, base.last(t).Get("Authorization")); c["iss"] != fakegoogle.DefaultServiceAccount || c["scope"] != credentials.DefaultScope {
				t.Errorf("sent %v; want the key's self-signed JWT for %s", c, credentials.DefaultScope)
			}
			if _, err := client.Get("https://cloudresourcemanager.googleapis.com/v1/projects/fake-project"); !errors.Is(err, transport.ErrNotAllowed) {
				t.Errorf("GET on googleapis.com: got %v; want ErrNotAllowed (the token belongs to %s)", err, universe)
			}
		})
	}
}

func TestNewClientOptionsConflict(t *testing.T) {
	t.Parallel()
	creds := keyCreds(t, startFake(t, ""), nil)
	idReq := &credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: "https://x.run.app"}
	tp := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) { return nil, errors.New("unused") })
	tests := []struct {
		name string
		req  *credentials.TokenRequest
		opts transport.Options
		want string
	}{
		{"a provider of its own", nil, transport.Options{TokenProvider: tp}, "are set from the credentials"},
		{"another kind", idReq, transport.Options{Kind: gcptoken.AccessToken}, `Kind "access_token" and TokenRequest.Kind "id_token" differ`},
		{"another audience", idReq, transport.Options{Audience: "https://y.run.app"}, "differ"},
		{"a bad request", &credentials.TokenRequest{Kind: "refresh_token"}, transport.Options{}, `TokenRequest.Kind "refresh_token"`},
		{"a bad request for per-request audiences", &credentials.TokenRequest{Kind: gcptoken.IDToken, SelfSigned: true}, transport.Options{}, "SelfSigned makes access tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := creds.NewClient(tt.req, &tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v; want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := (&credentials.Credentials{}).NewTransport(nil, nil); err == nil {
		t.Error("NewTransport of a zero Credentials: got no error")
	}
}

// Call Google APIs with access tokens. The fake's tokeninfo endpoint
// stands in for the API: it reads the token from the Authorization header
// and says what it grants. Against Google, AllowedHosts stays empty: the
// default lets the token go to *.googleapis.com and nowhere else.
func ExampleCredentials_NewClient() {
	fake, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, nil) // real code: credentials.Detect
	if err != nil {
		log.Fatal(err)
	}

	u, _ := url.Parse(fake.URL)
	client, err := creds.NewClient(&credentials.TokenRequest{Scopes: []string{credentials.ScopeCloudPlatform}},
		&transport.Options{AllowedHosts: []string{u.Host}}) // only because the "API" is local
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get(fake.URL + "/oauth2/v3/tokeninfo")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Scope string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, info.Scope)
	// Output: 200 OK https://www.googleapis.com/auth/cloud-platform
}

// Call any private Cloud Run service with Application Default Credentials:
// each request gets an ID token whose audience is its own scheme://host.
func ExampleDefaultClient() {
	ctx := context.Background()
	client, err := credentials.DefaultClient(ctx, &credentials.TokenRequest{Kind: gcptoken.IDToken}, nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get("https://my-service-abc123-uc.a.run.app/hello")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}
