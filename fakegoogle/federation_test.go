package fakegoogle

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSTSOIDC(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	mint := func(sub, aud string, life time.Duration) string {
		t.Helper()
		tok, err := f.MintOIDCSubjectToken(sub, aud, life)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mint("workload-1", "", time.Hour)
	expired := mint("workload-1", "", time.Minute)
	tooLong := mint("workload-1", "", 49*time.Hour)
	wrongAud := mint("workload-1", "https://example.com", time.Hour)
	plainAud := mint("workload-1", DefaultOIDCAudience, time.Hour)
	googleSigned := saIDToken(t, f, DefaultServiceAccount, "https:"+DefaultOIDCAudience, clock.Now())
	clock.Advance(2 * time.Minute)
	principal := "principal://iam.googleapis.com/projects/" + DefaultProjectNumber + "/locations/global/workloadIdentityPools/fake-pool/subject/workload-1"
	basic := http.Header{"Authorization": {"Basic " + b64std(DefaultWorkforceClientID+":"+DefaultWorkforceClientSecret)}}
	badBasic := http.Header{"Authorization": {"Basic " + b64std(DefaultWorkforceClientID+":wrong")}}
	wfToken := mint("alice", "https:"+DefaultWorkforceAudience, time.Hour)
	wfPrincipal := "principal://iam.googleapis.com/locations/global/workforcePools/" + DefaultWorkforcePool + "/subject/alice"
	// Python's quoting of options.
	pyOptions := strings.ReplaceAll(url.QueryEscape(`{"userProject": "fake-project"}`), "+", "%20")

	tests := []struct {
		name      string
		audience  string
		typ       string
		token     string
		options   string
		hdr       http.Header
		status    int
		code      string
		desc      string
		principal string
	}{
		{"jwt", DefaultOIDCAudience, SubjectTokenTypeJWT, good, "", nil, 200, "", "", principal},
		{"id_token, with newline", DefaultOIDCAudience, SubjectTokenTypeIDToken, good + "\n", "", nil, 200, "", "", principal},
		{"aud without https:", DefaultOIDCAudience, SubjectTokenTypeJWT, plainAud, "", nil, 200, "", "", principal},
		{"expired", DefaultOIDCAudience, SubjectTokenTypeJWT, expired, "", nil, 400, "invalid_grant", "has expired", ""},
		{"lives 49h", DefaultOIDCAudience, SubjectTokenTypeJWT, tooLong, "", nil, 400, "invalid_grant", "48h", ""},
		{"wrong audience", DefaultOIDCAudience, SubjectTokenTypeJWT, wrongAud, "", nil, 400, "invalid_grant", "does not match the expected audience", ""},
		{"signed by Google, not the IdP", DefaultOIDCAudience, SubjectTokenTypeJWT, googleSigned, "", nil, 400, "invalid_grant", "signature is invalid", ""},
		{"not a JWT", DefaultOIDCAudience, SubjectTokenTypeJWT, "garbage", "", nil, 400, "invalid_grant", "not a JWT", ""},
		{"AWS provider", DefaultAWSAudience, SubjectTokenTypeJWT, good, "", nil, 400, "invalid_request", "does not fit provider", ""},
		{"userProject on a workload pool", DefaultOIDCAudience, SubjectTokenTypeJWT, good, `{"userProject":"p"}`, nil, 400, "invalid_request", "userProject", ""},
		{"workforce with Basic client", DefaultWorkforceAudience, SubjectTokenTypeIDToken, wfToken, "", basic, 200, "", "", wfPrincipal},
		{"workforce with userProject (Python)", DefaultWorkforceAudience, SubjectTokenTypeIDToken, wfToken, pyOptions, nil, 200, "", "", wfPrincipal},
		{"workforce without either", DefaultWorkforceAudience, SubjectTokenTypeIDToken, wfToken, "", nil, 400, "invalid_request", "workforce", ""},
		{"workforce wrong secret", DefaultWorkforceAudience, SubjectTokenTypeIDToken, wfToken, "", badBasic, 401, "invalid_client", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := exchangeForm(tt.audience, tt.typ, tt.token)
			if tt.options != "" {
				form.Set("options", tt.options)
			}
			r := postForm(t, f.STSURL(), form, tt.hdr)
			if tt.code != "" {
				wantOAuthError(t, r, tt.status, tt.code, "")
				if d, _ := r.json(t)["error_description"].(string); !strings.Contains(d, tt.desc) {
					t.Errorf("error_description = %q; want it to contain %q", d, tt.desc)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
			}
			tok, _ := r.json(t)["access_token"].(string)
			info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil).json(t)
			if info["sub"] != tt.principal || info["scope"] != cloudPlatform {
				t.Errorf("tokeninfo sub %v scope %v; want %q and cloud-platform", info["sub"], info["scope"], tt.principal)
			}
		})
	}
}

func TestIDPDiscovery(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if got, want := f.OIDCIssuer(), f.URL+"/fakeidp"; got != want {
		t.Fatalf("OIDCIssuer() = %q; want %q", got, want)
	}
	d := get(t, f.OIDCIssuer()+"/.well-known/openid-configuration", nil).json(t)
	if d["issuer"] != f.OIDCIssuer() || d["jwks_uri"] != f.OIDCIssuer()+"/jwks" {
		t.Errorf("discovery %v; want issuer and jwks_uri under %s", d, f.OIDCIssuer())
	}
	var set struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	r := get(t, f.OIDCIssuer()+"/jwks", nil)
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s: %v; want one key", r.body, err)
	}
	tok, err := f.MintOIDCSubjectToken("w", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h, c := decodeJWT(t, tok)
	if h["kid"] != set.Keys[0].Kid || c["iss"] != f.OIDCIssuer() || c["aud"] != "https:"+DefaultOIDCAudience {
		t.Errorf("token header %v claims %v; want the JWKS key, the issuer and the default audience", h, c)
	}
	google := get(t, f.URL+"/oauth2/v3/certs", nil)
	if bytes.Contains(google.body, []byte(set.Keys[0].Kid)) {
		t.Error("the identity provider's key is also one of Google's signing keys")
	}
}

// stsToken exchanges an OIDC token of the fake IdP for subject.
func stsToken(t *testing.T, f *testFake, subject string) string {
	t.Helper()
	tok, err := f.MintOIDCSubjectToken(subject, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := postForm(t, f.STSURL(), exchangeForm(DefaultOIDCAudience, SubjectTokenTypeJWT, tok), nil)
	if r.status != http.StatusOK {
		t.Fatalf("STS: status %d body %s", r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

func TestFederatedImpersonation(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	fed := stsToken(t, f, "workload-7")
	bearer := http.Header{"Authorization": {"Bearer " + fed}, "Content-Type": {"application/json"}}
	call := func(sa, method, body string) response {
		req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/projects/-/serviceAccounts/"+sa+":"+method, strings.NewReader(body))
		req.Header = bearer.Clone()
		return do(t, req)
	}
	const at = `{"scope":["https://www.googleapis.com/auth/cloud-platform"]}`
	// DefaultTargetServiceAccount trusts the whole default pool.
	if r := call(DefaultTargetServiceAccount, "generateAccessToken", at); r.status != 200 {
		t.Fatalf("generateAccessToken through the pool's principalSet: %d %s", r.status, r.body)
	}
	r := call(DefaultTargetServiceAccount, "generateIdToken", `{"audience":"https://svc.example","includeEmail":true}`)
	if r.status != 200 {
		t.Fatalf("generateIdToken: %d %s", r.status, r.body)
	}
	_, c := decodeJWT(t, r.json(t)["token"].(string))
	if c["email"] != DefaultTargetServiceAccount || c["aud"] != "https://svc.example" {
		t.Errorf("ID token claims %v", c)
	}
	// DefaultServiceAccount does not, until the one principal is granted.
	if r := call(DefaultServiceAccount, "generateAccessToken", at); r.status != http.StatusForbidden {
		t.Fatalf("generateAccessToken without a grant: %d %s; want 403", r.status, r.body)
	}
	p := IdentityProvider{ProjectNumber: DefaultProjectNumber, Pool: DefaultWorkloadPool}
	if err := f.GrantFederatedTokenCreator(p.Principal("workload-7"), DefaultServiceAccount); err != nil {
		t.Fatal(err)
	}
	if r := call(DefaultServiceAccount, "generateAccessToken", at); r.status != 200 {
		t.Fatalf("generateAccessToken after granting the principal: %d %s", r.status, r.body)
	}
	other := stsToken(t, f, "workload-8")
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/projects/-/serviceAccounts/"+DefaultServiceAccount+":generateAccessToken", strings.NewReader(at))
	req.Header.Set("Authorization", "Bearer "+other)
	if r := do(t, req); r.status != http.StatusForbidden {
		t.Errorf("another subject of the pool: %d; want 403", r.status)
	}
	for _, bad := range []string{"user:x@example.com", "principal://iam.googleapis.com/foo", "principalSet://example.com/projects/1/x/*"} {
		if err := f.GrantFederatedTokenCreator(bad, DefaultServiceAccount); err == nil {
			t.Errorf("GrantFederatedTokenCreator(%q) accepted", bad)
		}
	}
}

func TestWorkforceRefresh(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	rt, err := f.IssueWorkforceRefreshToken(DefaultWorkforceClientID, DefaultWorkforceAudience, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.IssueWorkforceRefreshToken(DefaultWorkforceClientID, DefaultAWSAudience, "alice"); err == nil {
		t.Error("workforce refresh token issued for a workload pool")
	}
	basic := func(secret string) http.Header {
		return http.Header{"Authorization": {"Basic " + b64std(DefaultWorkforceClientID+":"+secret)}}
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	r := postForm(t, f.URL+"/v1/oauthtoken", form, basic(DefaultWorkforceClientSecret))
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil).json(t)
	if want := "principal://iam.googleapis.com/locations/global/workforcePools/" + DefaultWorkforcePool + "/subject/alice"; info["sub"] != want {
		t.Errorf("sub = %v; want %q", info["sub"], want)
	}
	wantOAuthError(t, postForm(t, f.URL+"/v1/oauthtoken", form, basic("wrong")), 401, "invalid_client", "")
	wantOAuthError(t, postForm(t, f.URL+"/v1/oauthtoken", form, nil), 401, "invalid_client", "")
	bad := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"1//nope"}}
	wantOAuthError(t, postForm(t, f.URL+"/v1/oauthtoken", bad, basic(DefaultWorkforceClientSecret)), 400, "invalid_grant", descRefreshRevoked)

	file, err := f.ExternalAccountAuthorizedUserJSON(rt)
	if err != nil {
		t.Fatal(err)
	}
	var fl map[string]string
	if err := json.Unmarshal(file, &fl); err != nil {
		t.Fatal(err)
	}
	if fl["type"] != "external_account_authorized_user" || fl["token_url"] != f.URL+"/v1/oauthtoken" || fl["audience"] != DefaultWorkforceAudience ||
		fl["client_secret"] != DefaultWorkforceClientSecret || fl["refresh_token"] != rt {
		t.Errorf("file %v", fl)
	}
}

func TestSTSIntrospect(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	f.AddOAuthClient("introspector.apps.googleusercontent.com", "s3cret")
	basic := func(secret string) http.Header {
		return http.Header{"Authorization": {"Basic " + b64std("introspector.apps.googleusercontent.com:"+secret)}}
	}
	tok := stsToken(t, f, "workload-i")
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	r := postForm(t, f.URL+"/v1/introspect", form, basic("s3cret"))
	if r.status != 200 {
		t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	p := IdentityProvider{ProjectNumber: DefaultProjectNumber, Pool: DefaultWorkloadPool}
	info := r.json(t)
	if info["active"] != true || info["username"] != p.Principal("workload-i") || info["sub"] != p.Principal("workload-i") {
		t.Errorf("introspection = %v; want active, username and sub %q", info, p.Principal("workload-i"))
	}
	r = postForm(t, f.URL+"/v1/introspect", url.Values{"token": {"ya29.nope"}}, basic("s3cret"))
	if r.status != 200 || string(r.body) != `{"active":false}` {
		t.Errorf("unknown token: %d %s; want 200 {\"active\":false}", r.status, r.body)
	}
	wantOAuthError(t, postForm(t, f.URL+"/v1/introspect", form, basic("wrong")), 401, "invalid_client", "")
	wantOAuthError(t, postForm(t, f.URL+"/v1/introspect", form, nil), 401, "invalid_client", "")
}

func TestFederationState(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	keyID, secret := f.AWSAccessKey()
	tok, err := f.MintOIDCSubjectToken("workload-9", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := f.IssueWorkforceRefreshToken(DefaultWorkforceClientID, DefaultWorkforceAudience, "bob")
	if err != nil {
		t.Fatal(err)
	}
	extra := IdentityProvider{ProjectNumber: "1", Pool: "p2", Provider: "gh", Type: ProviderOIDC, AllowedAudiences: []string{"sts.example"}}
	if err := f.AddIdentityProvider(extra); err != nil {
		t.Fatal(err)
	}
	member := extra.Principal("x")
	if err := f.GrantFederatedTokenCreator(member, DefaultServiceAccount); err != nil {
		t.Fatal(err)
	}
	st, err := f.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(st, []byte(tok)) {
		t.Error("state holds a minted subject token")
	}

	g := newFake(t, nil)
	if err := g.LoadState(st); err != nil {
		t.Fatal(err)
	}
	if id, sec := g.AWSAccessKey(); id != keyID || sec != secret {
		t.Error("the AWS access key did not survive the state")
	}
	if got := len(g.IdentityProviders()); got != 4 {
		t.Errorf("%d providers after LoadState; want 4", got)
	}
	// A token minted before the restart still passes the signature check
	// (the IdP key persisted); g has another URL, so its issuer is wrong.
	r := postForm(t, g.STSURL(), exchangeForm(DefaultOIDCAudience, SubjectTokenTypeJWT, tok), nil)
	if d, _ := r.json(t)["error_description"].(string); !strings.Contains(d, "issuer") {
		t.Errorf("pre-restart token: %d %s; want it refused for its issuer only", r.status, r.body)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	hdr := http.Header{"Authorization": {"Basic " + b64std(DefaultWorkforceClientID+":"+DefaultWorkforceClientSecret)}}
	if r := postForm(t, g.URL+"/v1/oauthtoken", form, hdr); r.status != 200 {
		t.Errorf("workforce refresh after LoadState: %d %s", r.status, r.body)
	}
	again, err := g.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(again, []byte(member)) {
		t.Error("the federated Token Creator grant did not survive the state")
	}

	// A version 2 file (before federation) loads with the defaults.
	var old map[string]json.RawMessage
	if err := json.Unmarshal(st, &old); err != nil {
		t.Fatal(err)
	}
	delete(old, "federation")
	old["version"] = json.RawMessage("2")
	v2, _ := json.Marshal(old)
	h := newFake(t, nil)
	if err := h.LoadState(v2); err != nil {
		t.Fatalf("LoadState(version 2): %v", err)
	}
	if got := len(h.IdentityProviders()); got != 3 {
		t.Errorf("%d providers after loading a version 2 file; want the 3 defaults", got)
	}
	fed := stsToken(t, h, "w")
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/v1/projects/-/serviceAccounts/"+DefaultTargetServiceAccount+":generateAccessToken",
		strings.NewReader(`{"scope":["https://www.googleapis.com/auth/cloud-platform"]}`))
	req.Header.Set("Authorization", "Bearer "+fed)
	if r := do(t, req); r.status != 200 {
		t.Errorf("pool grant after loading a version 2 file: %d %s", r.status, r.body)
	}
}

func TestExternalAccountJSON(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tests := []struct {
		name string
		c    ExternalAccountConfig
		want map[string]any
	}{
		{"aws imdsv2", ExternalAccountConfig{AWS: true, IMDSv2: true, ServiceAccount: DefaultTargetServiceAccount, TokenLifetimeSeconds: 600},
			map[string]any{"audience": DefaultAWSAudience, "subject_token_type": SubjectTokenTypeAWS, "token_url": f.URL + "/v1/token",
				"service_account_impersonation_url": f.URL + "/v1/projects/-/serviceAccounts/" + DefaultTargetServiceAccount + ":generateAccessToken"}},
		{"file", ExternalAccountConfig{SubjectTokenFile: "token.jwt"},
			map[string]any{"audience": DefaultOIDCAudience, "subject_token_type": SubjectTokenTypeJWT}},
	}
	for _, tt := range tests {
		data, err := f.ExternalAccountJSON(tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.want {
			if m[k] != v {
				t.Errorf("%s: %s = %v; want %v", tt.name, k, m[k], v)
			}
		}
		if tt.c.AWS {
			cs := m["credential_source"].(map[string]any)
			if cs["imdsv2_session_token_url"] != f.URL+imdsTokenPath || cs["environment_id"] != "aws1" {
				t.Errorf("%s: credential_source %v", tt.name, cs)
			}
		}
	}
	if _, err := f.ExternalAccountJSON(ExternalAccountConfig{AWS: true, SubjectTokenFile: "x"}); err == nil {
		t.Error("two sources accepted")
	}
	if _, err := f.ExternalAccountJSON(ExternalAccountConfig{AWS: true, ServiceAccount: "nobody@x.iam.gserviceaccount.com"}); err == nil {
		t.Error("unknown service account accepted")
	}
}

func b64std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
