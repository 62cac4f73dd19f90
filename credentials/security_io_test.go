package credentials

// Security regression tests (docs/security.md): each names the attack it
// stops. Run them all with `go test -run Security ./...`.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// hostileJWT is a well-formed JWT followed by attack: parsing its claims
// succeeds (cloud.google.com/go/auth reads a JWT's exp before gcptoken sees
// it), so only a check of the whole value stops it.
func hostileJWT(attack string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"aud":"a","exp":4102444800}`)) + ".c2ln" + attack
}

// hostileServer answers every token request of every kind (OAuth token
// endpoint, metadata server, IAM Credentials, STS) with value as the token:
// an access token where one was asked for, an ID token where one was.
func hostileServer(t *testing.T, value string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Metadata-Flavor", "Google")
		switch {
		case strings.HasSuffix(r.URL.Path, "/identity"):
			io.WriteString(w, value)
			return
		case strings.HasSuffix(r.URL.Path, iamSignJWTOp):
			json.NewEncoder(w).Encode(map[string]any{"keyId": "k1", "signedJwt": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"})
			return
		}
		r.ParseForm()
		var claims []byte
		if parts := strings.Split(r.PostForm.Get("assertion"), "."); len(parts) == 3 {
			claims, _ = base64.RawURLEncoding.DecodeString(parts[1])
		}
		wantsID := strings.Contains(string(claims), "target_audience") ||
			r.PostForm.Get("grant_type") == "refresh_token" && !r.PostForm.Has("scope")
		answer := map[string]any{
			"access_token": value, "token_type": "Bearer", "expires_in": 3600, "issued_token_type": tokenTypeAccessToken,
			"accessToken": value, "token": value, "expireTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
		}
		if wantsID {
			answer["id_token"] = value
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestSecurityHostileTokenRefusedWhereDecoded: a hostile or broken token
// endpoint, metadata server, IAM Credentials API or STS answers with a
// "token" that carries a newline and a shell command (or terminal escapes).
// Every provider refuses it where it is decoded, naming the endpoint, so no
// caller of a plain provider (a metadata-server emulator, a proxy, a user's
// own cache) can print, cache, send or serve it.
func TestSecurityHostileTokenRefusedWhereDecoded(t *testing.T) {
	t.Parallel()
	for _, value := range []string{hostileJWT("\nexport LD_PRELOAD=/tmp/x.so"), hostileJWT("\x1b]0;owned\x07"), hostileJWT(" ok")} {
		evil := hostileServer(t, value)
		good := sourceServer(t)
		src := sourceCreds(t, good)
		sa, err := FromJSON(mustJSON(t, saFile(t, evil.URL+"/token")), isolated(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		au, err := FromJSON(mustJSON(t, auFile(evil.URL+"/token")), isolated(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		md := metadataCreds(t, strings.TrimPrefix(evil.URL, "http://"))
		imp, err := Impersonate(src, &ImpersonateOptions{Target: "target@proj.iam.gserviceaccount.com",
			IAMEndpoint: evil.URL, TokenURL: evil.URL + "/token"})
		if err != nil {
			t.Fatal(err)
		}
		delegated, err := imp.WithSubject("user@example.com")
		if err != nil {
			t.Fatal(err)
		}
		down, err := Downscope(src, &DownscopeOptions{STSEndpoint: evil.URL + "/v1/token",
			Boundary: []byte(`{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b","availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`)})
		if err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name  string
			creds *Credentials
			id    bool
		}{
			{"service account access token", sa, false},
			{"service account ID token", sa, true},
			{"authorized_user access token", au, false},
			{"authorized_user ID token", au, true},
			{"metadata server access token", md, false},
			{"metadata server ID token", md, true},
			{"IAM generateAccessToken", imp, false},
			{"IAM generateIdToken", imp, true},
			{"signJwt then token endpoint (domain-wide delegation)", delegated, false},
			{"STS downscoping", down, false},
		}
		for _, tt := range tests {
			var tp gcptoken.TokenProvider
			var err error
			if tt.id {
				tp, err = tt.creds.IDTokenSource("https://svc.example", nil)
			} else {
				tp, err = tt.creds.AccessTokenSource([]string{scopeCP})
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			tok, err := tp.Token(t.Context())
			if err == nil {
				t.Errorf("%s: got token %q; want it refused", tt.name, tok.Value)
				continue
			}
			if !errors.Is(err, gcptoken.ErrMalformedToken) {
				t.Errorf("%s: got error %v; want one matching gcptoken.ErrMalformedToken", tt.name, err)
			}
			want := "access token from " + evil.URL
			if tt.id {
				want = "ID token from " + evil.URL
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", tt.name, err, want)
			}
			if strings.ContainsAny(err.Error(), "\n\x1b") || strings.Contains(err.Error(), "LD_PRELOAD") {
				t.Errorf("%s: error %q echoes the token", tt.name, err)
			}
		}
	}
}

// TestSecurityTokenEndpointRedirectKeepsSecrets: a token endpoint (hostile,
// or hijacked) answers 307 to another server. net/http's default would post
// the refresh token, client secret or signed assertion there again. The
// default client refuses the redirect, and so does a caller's client that
// has no redirect policy of its own.
func TestSecurityTokenEndpointRedirectKeepsSecrets(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var leaked []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		leaked = append(leaked, string(body)+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.stolen", "id_token": hostileJWT(""), "expires_in": 3600})
	}))
	defer thief.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, thief.URL+"/token", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	good := sourceServer(t)

	for _, client := range []struct {
		name string
		c    *http.Client
	}{{"default client", nil}, {"caller's client", &http.Client{Timeout: 10 * time.Second}}} {
		opts := func() *Options { o := isolated(t, nil); o.HTTPClient = client.c; return o }
		sa, err := FromJSON(mustJSON(t, saFile(t, redirector.URL+"/token")), opts())
		if err != nil {
			t.Fatal(err)
		}
		au, err := FromJSON(mustJSON(t, auFile(redirector.URL+"/token")), opts())
		if err != nil {
			t.Fatal(err)
		}
		src, err := FromJSON(mustJSON(t, saFile(t, good.tokenURL())), opts())
		if err != nil {
			t.Fatal(err)
		}
		imp, err := Impersonate(src, &ImpersonateOptions{Target: "target@proj.iam.gserviceaccount.com", IAMEndpoint: redirector.URL})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name  string
			creds *Credentials
		}{{"service account (assertion)", sa}, {"authorized_user (refresh token)", au}, {"IAM (bearer token)", imp}} {
			tp, err := tt.creds.AccessTokenSource([]string{scopeCP})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tp.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "refused a redirect") {
				t.Errorf("%s, %s: got error %v; want the redirect refused", client.name, tt.name, err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, l := range leaked {
		t.Errorf("the redirect target received a request: %.80q", l)
	}
}

// TestSecurityCredentialReadEndsWithContext: a credentials path (given
// explicitly, by GOOGLE_APPLICATION_CREDENTIALS, or as an external_account's
// subject-token file) names a FIFO that no one writes. Opening it blocks
// forever; the caller's context must end the wait.
func TestSecurityCredentialReadEndsWithContext(t *testing.T) {
	t.Parallel()
	ext := map[string]any{
		"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": closedURL(t),
		"credential_source": map[string]any{"file": fifo(t)},
	}
	extCreds, err := FromJSON(mustJSON(t, ext), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		read func(ctx context.Context) error
	}{
		{"Options.CredentialsFile", func(ctx context.Context) error {
			o := isolated(t, nil)
			o.CredentialsFile = fifo(t)
			_, err := Detect(ctx, o)
			return err
		}},
		{"GOOGLE_APPLICATION_CREDENTIALS", func(ctx context.Context) error {
			_, err := Detect(ctx, isolated(t, map[string]string{envCredentials: fifo(t)}))
			return err
		}},
		{"credential_source.file", func(ctx context.Context) error {
			tp, err := extCreds.AccessTokenSource([]string{scopeCP})
			if err != nil {
				return err
			}
			_, err = tp.Token(ctx)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tt.read(ctx) }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, gcptoken.ErrInvalidCredentials) &&
					!strings.Contains(err.Error(), "subject token") {
					t.Errorf("got error %v; want the context's deadline, as a credentials problem", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still blocked 10s after a 300ms deadline")
			}
		})
	}
}

// TestSecurityMetadataFactsAreText: a hostile metadata server (or anything
// GCE_METADATA_HOST points at) answers the email, project and universe
// questions with terminal escapes and a forged line. Detect does not
// believe them: they would reach `gcptoken explain`, cache keys and the
// transport's host rules.
func TestSecurityMetadataFactsAreText(t *testing.T) {
	t.Parallel()
	host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "robot@p.iam.gserviceaccount.com\x1b]0;owned\x07\nproject: forged")
	})
	c, err := Detect(t.Context(), isolated(t, map[string]string{envMetadataHost: host}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Principal != "" || c.ProjectID != "" || c.UniverseDomain != DefaultUniverseDomain {
		t.Errorf("got Principal %q, ProjectID %q, UniverseDomain %q; want the hostile answers ignored",
			c.Principal, c.ProjectID, c.UniverseDomain)
	}
	for _, s := range c.Steps {
		if strings.ContainsAny(s.Detail, "\x1b\x07\n") {
			t.Errorf("step %q detail %q holds the server's control characters", s.Source, s.Detail)
		}
	}
}

// TestSecurityHostileSubjectTokenRefused: a subject-token file, URL or
// executable that hands over a "token" with a line break and a command (a
// compromised sidecar, the wrong file), and an STS endpoint that answers
// with such an access token: neither is sent on nor handed out, and the
// error names the source.
func TestSecurityHostileSubjectTokenRefused(t *testing.T) {
	t.Parallel()
	hostile := "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\nexport LD_PRELOAD=/tmp/x.so"
	var stsCalls atomic.Int64
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stsCalls.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"access_token": hostile, "token_type": "Bearer", "expires_in": 3600,
			"issued_token_type": tokenTypeAccessToken})
	}))
	t.Cleanup(sts.Close)
	subjectURL := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"id_token": hostile})
	}))
	t.Cleanup(subjectURL.Close)
	hostileFile := writeFile(t, "subject.jwt", []byte(hostile))
	goodFile := writeFile(t, "good.jwt", []byte("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"))

	file := func(path string) map[string]any { return map[string]any{"file": path} }
	tests := []struct {
		name     string
		source   map[string]any
		wantErr  string
		wantSent bool // whether STS is reached (only with a good subject token)
	}{
		{"file", file(hostileFile), "file " + strconv.Quote(hostileFile) + ": does not hold a subject token", false},
		{"url json", map[string]any{"url": subjectURL.URL, "format": map[string]any{"type": "json", "subject_token_field_name": "id_token"}},
			"does not hold a subject token", false},
		{"sts answer", file(goodFile), "access token from " + sts.URL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := stsCalls.Load()
			cfg := map[string]any{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
				"subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": sts.URL + "/v1/token", "credential_source": tt.source}
			creds, err := FromJSON(mustJSON(t, cfg), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := creds.AccessTokenSource([]string{scopeCP})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(t.Context())
			if err == nil {
				t.Fatalf("got token %q; want the hostile value refused", tok.Value)
			}
			if !errors.Is(err, gcptoken.ErrMalformedToken) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v; want ErrMalformedToken naming %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "LD_PRELOAD") {
				t.Errorf("error %q repeats the hostile value", err)
			}
			if sent := stsCalls.Load() > before; sent != tt.wantSent {
				t.Errorf("STS reached = %v; want %v", sent, tt.wantSent)
			}
		})
	}
}
