package credentials

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

const testUniverse = "example-universe.net"

// universeSAFile is a key of testUniverse whose token_uri fails the test if
// anything asks it: there is no token endpoint for keys outside
// googleapis.com.
func universeSAFile(t *testing.T) map[string]any {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a key of universe %s asked its token_uri (%s %s); it must sign its own JWTs", testUniverse, r.Method, r.URL.Path)
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(ts.Close)
	f := saFile(t, ts.URL+"/token")
	f["universe_domain"] = testUniverse
	return f
}

// TestUniverseServiceAccountAccessToken: outside googleapis.com a key's
// access tokens are self-signed JWTs with its scopes, as every Google
// library makes them; the default scope is cloud-platform.
func TestUniverseServiceAccountAccessToken(t *testing.T) {
	t.Parallel()
	c, err := FromJSON(mustJSON(t, universeSAFile(t)), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.UniverseDomain != testUniverse {
		t.Errorf("got UniverseDomain %q; want %q", c.UniverseDomain, testUniverse)
	}
	tests := []struct {
		name   string
		scopes []string
		want   string
	}{
		{"default scope", nil, DefaultScope},
		{"two scopes", []string{"https://www.googleapis.com/auth/devstorage.read_only", scopeIAM},
			"https://www.googleapis.com/auth/devstorage.read_only " + scopeIAM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := c.AccessTokenSource(tt.scopes)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Unix()
			tok, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			header, claims := decodeAssertion(t, tok.Value)
			if header["kid"] != testKeyID || header["alg"] != "RS256" {
				t.Errorf("got header %v; want RS256 with kid %s", header, testKeyID)
			}
			if claims["iss"] != testEmail || claims["sub"] != testEmail || claims["scope"] != tt.want {
				t.Errorf("got claims %v; want iss = sub = %s, scope %q", claims, testEmail, tt.want)
			}
			if _, ok := claims["aud"]; ok {
				t.Errorf("got aud %v; a scoped self-signed JWT has none", claims["aud"])
			}
			iat, _ := claims["iat"].(float64)
			exp, _ := claims["exp"].(float64)
			if int64(iat) < before-1 || exp-iat != 3600 || !tok.Expiry.Equal(time.Unix(int64(exp), 0)) {
				t.Errorf("got iat %v, exp %v, Expiry %v; want an hour from now", iat, exp, tok.Expiry)
			}
			if tok.Kind != gcptoken.AccessToken || tok.Metadata[gcptoken.MetaScope] != tt.want {
				t.Errorf("got Kind %q, scope %q; want an access token for %q", tok.Kind, tok.Metadata[gcptoken.MetaScope], tt.want)
			}
		})
	}
}

// TestUniverseServiceAccountIDToken: outside googleapis.com a key's ID
// tokens come from generateIdToken on the account itself at
// iamcredentials.{universe}, authenticated with a self-signed JWT for the
// iam scope, asking for the email as google-auth does.
func TestUniverseServiceAccountIDToken(t *testing.T) {
	t.Parallel()
	idt := fakeJWT(t, map[string]any{"aud": "https://svc.example", "exp": time.Now().Add(time.Hour).Unix()})
	iam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want := "/v1/projects/-/serviceAccounts/" + testEmail + ":generateIdToken"; r.Method != http.MethodPost || r.URL.Path != want {
			t.Errorf("got %s %s; want POST %s", r.Method, r.URL.Path, want)
		}
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			t.Errorf("got Authorization %q; want a bearer JWT", r.Header.Get("Authorization"))
		}
		if _, claims := decodeAssertion(t, bearer); claims["iss"] != testEmail || claims["scope"] != scopeIAM {
			t.Errorf("caller's JWT has claims %v; want the key's own, for scope %s", claims, scopeIAM)
		}
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil || body["audience"] != "https://svc.example" ||
			body["includeEmail"] != true || body["useEmailAzp"] != true {
			t.Errorf("got body %s; want audience, includeEmail and useEmailAzp", b)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"token": idt})
	}))
	t.Cleanup(iam.Close)

	c, err := FromJSON(mustJSON(t, universeSAFile(t)), isolated(t, map[string]string{"GCPTOKEN_IAM_ENDPOINT": iam.URL}))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.IDTokenSource("https://svc.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != idt || tok.Kind != gcptoken.IDToken {
		t.Errorf("got %q (%s); want the IAM answer's ID token", tok.Value, tok.Kind)
	}

	// Without the override the endpoint is the universe's.
	d, err := FromJSON(mustJSON(t, universeSAFile(t)), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := "https://iamcredentials." + testUniverse + "/v1/projects/-/serviceAccounts/" + url.PathEscape(testEmail) + ":generateIdToken"
	if got := d.TokenEndpoints(); len(got) != 1 || got[0] != want {
		t.Errorf("got TokenEndpoints() %q; want [%q] and no token endpoint", got, want)
	}
}

// TestUniverseIDTokenDenied: a 403 from generateIdToken says which grant
// is missing.
func TestUniverseIDTokenDenied(t *testing.T) {
	t.Parallel()
	iam := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).","status":"PERMISSION_DENIED"}}`)
	}))
	t.Cleanup(iam.Close)
	c, err := FromJSON(mustJSON(t, universeSAFile(t)), isolated(t, map[string]string{"GCPTOKEN_IAM_ENDPOINT": iam.URL}))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.IDTokenSource("https://svc.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tp.Token(t.Context())
	wantErrContains(t, err, "PERMISSION_DENIED", "grant "+testEmail+" roles/iam.serviceAccountTokenCreator on itself")
	if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("got %v; want it to match ErrInvalidCredentials, as IAM refusals do", err)
	}
}

// TestUniverseRefusals: what Google's libraries refuse outside
// googleapis.com, refused before anything is sent.
func TestUniverseRefusals(t *testing.T) {
	t.Parallel()
	sa, err := FromJSON(mustJSON(t, universeSAFile(t)), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.WithSubject("user@example.com"); !errors.Is(err, errUniverseDWD) {
		t.Errorf("WithSubject: got %v; want %v", err, errUniverseDWD)
	}
	ts := newTokenServer(t, func(t *testing.T, _ url.Values) (int, any) {
		t.Error("a user credential of another universe was refreshed")
		return http.StatusBadRequest, nil
	})
	au := auFile(ts.tokenURL())
	au["universe_domain"] = testUniverse
	user, err := FromJSON(mustJSON(t, au), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = user.AccessTokenSource(nil)
	wantErrContains(t, err, "refresh is only supported in the googleapis.com universe domain", testUniverse)
	if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("got %v; want it to match ErrInvalidCredentials", err)
	}
	_, err = user.IDTokenSource("aud", nil)
	wantErrContains(t, err, "refresh is only supported")
}

// TestCheckUniverseDomain: a client configured for one universe refuses a
// credential of another with the text of Google's Go transports.
func TestCheckUniverseDomain(t *testing.T) {
	t.Parallel()
	other, err := FromJSON(mustJSON(t, universeSAFile(t)), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	public, err := FromJSON(mustJSON(t, saFile(t, "")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		c        *Credentials
		universe string
		want     string // "" for no error
	}{
		{"public, default client", public, "", ""},
		{"public, googleapis.com", public, "googleapis.com", ""},
		{"other, same", other, testUniverse, ""},
		{"other, default client", other, "",
			`the configured universe domain ("googleapis.com") does not match the universe domain found in the credentials ("example-universe.net"). ` +
				`If you haven't configured the universe domain explicitly, "googleapis.com" is the default`},
		{"public, other client", public, testUniverse,
			`the configured universe domain ("example-universe.net") does not match the universe domain found in the credentials ("googleapis.com"). ` +
				`If you haven't configured the universe domain explicitly, "googleapis.com" is the default`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.CheckUniverseDomain(tt.universe)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v; want nil", err)
				}
				return
			}
			var me *UniverseMismatchError
			if err == nil || err.Error() != tt.want || !errors.As(err, &me) || !errors.Is(err, gcptoken.ErrInvalidCredentials) {
				t.Errorf("got %v; want a *UniverseMismatchError %q matching ErrInvalidCredentials", err, tt.want)
			}
		})
	}
}

func TestClientUniverseDomain(t *testing.T) {
	t.Parallel()
	envU := env(map[string]string{EnvUniverseDomain: "env.example"})
	for _, tt := range []struct {
		configured string
		getenv     func(string) string
		want       string
	}{
		{"opt.example", envU, "opt.example"},
		{"", envU, "env.example"},
		{"", env(nil), DefaultUniverseDomain},
	} {
		if got := ClientUniverseDomain(tt.configured, tt.getenv); got != tt.want {
			t.Errorf("ClientUniverseDomain(%q) = %q; want %q", tt.configured, got, tt.want)
		}
	}
}
