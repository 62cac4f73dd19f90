package fakegoogle

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const testUniverse = "universe.test"

// selfSigned signs claims with priv as a key's self-signed JWT.
func selfSigned(t *testing.T, kf keyFile, priv *rsa.PrivateKey, extra map[string]any, now time.Time) string {
	t.Helper()
	c := map[string]any{"iss": kf.ClientEmail, "sub": kf.ClientEmail, "iat": now.Unix(), "exp": now.Unix() + 3600}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}, c)
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestUniverseFiles: a fake of another universe writes it into every
// credential file, and says so.
func TestUniverseFiles(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{UniverseDomain: testUniverse})
	if f.UniverseDomain() != testUniverse {
		t.Errorf("UniverseDomain() = %q; want %q", f.UniverseDomain(), testUniverse)
	}
	key, err := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{scopeCloudPlatform})
	if err != nil {
		t.Fatal(err)
	}
	user, err := f.AuthorizedUserJSON(DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := f.ExternalAccountJSON(ExternalAccountConfig{SubjectTokenFile: "/dev/null"})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"key": key, "authorized_user": user, "external_account": ext} {
		var m struct {
			UniverseDomain string `json:"universe_domain"`
		}
		if err := json.Unmarshal(data, &m); err != nil || m.UniverseDomain != testUniverse {
			t.Errorf("%s file: universe_domain %q (%v); want %q", name, m.UniverseDomain, err, testUniverse)
		}
	}
	if _, err := New(&Options{UniverseDomain: "https://universe.test"}); err == nil {
		t.Error("New accepted a universe domain with a scheme")
	}
}

// TestUniverseTokenEndpointRefusesKeys: outside googleapis.com a key's
// assertion is not exchanged.
func TestUniverseTokenEndpointRefusesKeys(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{UniverseDomain: testUniverse})
	kf, priv := saKey(t, f, DefaultServiceAccount)
	a := signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID},
		assertionClaimsFor(kf.ClientEmail, kf.TokenURI, time.Now()))
	r := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", descNoTokenEndpoint)
}

// TestSelfSignedJWTAtAPIs: the APIs take a key's self-signed JWT with a
// scope, or with the API's own audience in the fake's universe, and refuse
// the rest.
func TestSelfSignedJWTAtAPIs(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{UniverseDomain: testUniverse, Now: clock.Now})
	kf, priv := saKey(t, f, DefaultServiceAccount)
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	crm := f.URL + "/v1/projects/" + DefaultProjectID
	tests := []struct {
		name   string
		tok    string
		status int
		reason string
	}{
		{"scope", selfSigned(t, kf, priv, map[string]any{"scope": scopeCloudPlatform}, now), 200, ""},
		{"audience of the universe's API", selfSigned(t, kf, priv, map[string]any{"aud": "https://cloudresourcemanager." + testUniverse + "/"}, now), 200, ""},
		{"audience of googleapis.com", selfSigned(t, kf, priv, map[string]any{"aud": "https://cloudresourcemanager.googleapis.com/"}, now), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"audience of another API", selfSigned(t, kf, priv, map[string]any{"aud": "https://iamcredentials." + testUniverse + "/"}, now), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"neither", selfSigned(t, kf, priv, nil, now), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"another key", selfSigned(t, kf, other, map[string]any{"scope": scopeCloudPlatform}, now), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"sub is another", selfSigned(t, kf, priv, map[string]any{"scope": scopeCloudPlatform, "sub": DefaultUser}, now), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"expired", selfSigned(t, kf, priv, map[string]any{"scope": scopeCloudPlatform}, now.Add(-2*time.Hour)), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"longer than an hour", selfSigned(t, kf, priv, map[string]any{"scope": scopeCloudPlatform, "exp": now.Unix() + 7200}, now), 401, "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{"scope the API does not take", selfSigned(t, kf, priv, map[string]any{"scope": scopeIAM}, now), 403, "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, crm, bearer(tt.tok))
			if r.status != tt.status {
				t.Fatalf("GET project: %d %s; want %d", r.status, r.body, tt.status)
			}
			if tt.reason != "" && !strings.Contains(string(r.body), tt.reason) {
				t.Errorf("body %s; want reason %s", r.body, tt.reason)
			}
		})
	}
}

// TestUniverseKeyIDToken: in another universe the default account may call
// generateIdToken on itself with its self-signed JWT, which is how its key
// gets ID tokens there; in googleapis.com it holds no such grant.
func TestUniverseKeyIDToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		universe string
		status   int
	}{{testUniverse, 200}, {"", 403}} {
		f := newFake(t, &Options{UniverseDomain: tt.universe})
		kf, priv := saKey(t, f, DefaultServiceAccount)
		jwt := selfSigned(t, kf, priv, map[string]any{"scope": scopeIAM}, time.Now())
		req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/projects/-/serviceAccounts/"+DefaultServiceAccount+":generateIdToken",
			strings.NewReader(`{"audience":"https://svc.example","includeEmail":true,"useEmailAzp":true}`))
		req.Header = bearer(jwt)
		req.Header.Set("Content-Type", "application/json")
		r := do(t, req)
		if r.status != tt.status {
			t.Fatalf("universe %q: generateIdToken on itself: %d %s; want %d", tt.universe, r.status, r.body, tt.status)
		}
		if tt.status != 200 {
			continue
		}
		_, claims := decodeJWT(t, r.json(t)["token"].(string))
		if claims["aud"] != "https://svc.example" || claims["email"] != DefaultServiceAccount || claims["azp"] != DefaultServiceAccount {
			t.Errorf("ID token claims %v; want the audience, and the account's email as email and azp", claims)
		}
	}
}

// TestMintAccessToken: the helper's tokens are ones the fake's APIs and
// tokeninfo know.
func TestMintAccessToken(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{UniverseDomain: testUniverse})
	tok, exp, err := f.MintAccessToken(DefaultServiceAccount, []string{scopeCloudPlatform})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expiry in %v; want about an hour", d)
	}
	if r := get(t, f.URL+"/v1/projects/"+DefaultProjectID, bearer(tok)); r.status != 200 {
		t.Errorf("GET project with the minted token: %d %s", r.status, r.body)
	}
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil).json(t)
	if info["sub"] != sa.UniqueID || info["scope"] != scopeCloudPlatform {
		t.Errorf("tokeninfo %v; want the account and scope", info)
	}
	if _, _, err := f.MintAccessToken(DefaultServiceAccount, []string{"https://www.googleapis.com/auth/no-such-api"}); err == nil {
		t.Error("MintAccessToken accepted an unknown scope")
	}
	if _, _, err := f.MintAccessToken("ghost@fake-project.iam.gserviceaccount.com", []string{scopeCloudPlatform}); err == nil {
		t.Error("MintAccessToken accepted an unknown account")
	}
}
