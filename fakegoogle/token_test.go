package fakegoogle

import (
	"crypto/rand"
	"crypto/rsa"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestJWTBearerAccessToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	kf, priv := saKey(t, f, DefaultServiceAccount)
	now := clock.Now()

	headers := []struct {
		name   string
		header map[string]string
	}{
		{"go auth: kid set", map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}},
		{"go auth: kid empty", map[string]string{"alg": "RS256", "typ": "JWT", "kid": ""}},
		{"x/oauth2: kid absent", map[string]string{"alg": "RS256", "typ": "JWT"}},
		{"node: alg only", map[string]string{"alg": "RS256"}},
	}
	auds := []string{
		"https://oauth2.googleapis.com/token",
		"https://accounts.google.com/o/oauth2/token",
		"https://www.googleapis.com/oauth2/v4/token",
		f.URL + "/token",
		f.URL + "/o/oauth2/token",
		f.URL + "/oauth2/v4/token",
	}
	for _, h := range headers {
		for _, aud := range auds {
			t.Run(h.name+" aud "+aud, func(t *testing.T) {
				t.Parallel()
				a := signJWS(t, priv, h.header, assertionClaimsFor(DefaultServiceAccount, aud, now))
				r := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
				if r.status != http.StatusOK {
					t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
				}
				if got, want := r.header.Get("Content-Type"), "application/json; charset=utf-8"; got != want {
					t.Errorf("Content-Type = %q; want %q", got, want)
				}
				if got, want := r.header.Get("Cache-Control"), "no-cache, no-store, max-age=0, must-revalidate"; got != want {
					t.Errorf("Cache-Control = %q; want %q", got, want)
				}
				if !strings.HasPrefix(string(r.body), "{\n  \"access_token\": \"ya29.c.") {
					t.Errorf("body = %q; want Google's pretty-printed shape starting with access_token", r.body)
				}
				m := r.json(t)
				if got, want := slices.Sorted(maps.Keys(m)), []string{"access_token", "expires_in", "token_type"}; !slices.Equal(got, want) {
					t.Errorf("fields = %q; want %q", got, want)
				}
				if got, ok := m["expires_in"].(float64); !ok || got != 3599 {
					t.Errorf("expires_in = %#v; want number 3599", m["expires_in"])
				}
				if got := m["token_type"]; got != "Bearer" {
					t.Errorf("token_type = %q; want %q", got, "Bearer")
				}
			})
		}
	}
}

func TestJWTBearerErrors(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	kf, priv := saKey(t, f, DefaultServiceAccount)
	if _, err := f.AddServiceAccount("disabled@fake-project.iam.gserviceaccount.com"); err != nil {
		t.Fatal(err)
	}
	_, disabledKey := saKey(t, f, "disabled@fake-project.iam.gserviceaccount.com")
	if err := f.DisableServiceAccount("disabled@fake-project.iam.gserviceaccount.com"); err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now().Unix()
	goHeader := map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}

	tests := []struct {
		name       string
		key        *rsa.PrivateKey // default priv
		header     map[string]string
		edit       func(c map[string]any)
		assertion  string // overrides the signed one
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{name: "exp-iat exactly one hour", wantStatus: 200},
		{name: "iat 299s in the future", edit: func(c map[string]any) { c["iat"], c["exp"] = now+299, now+299+3600 }, wantStatus: 200},
		{name: "scope aliases", edit: func(c map[string]any) { c["scope"] = "email profile openid" }, wantStatus: 200},
		{name: "sub equal to iss is not delegation", edit: func(c map[string]any) { c["sub"] = DefaultServiceAccount }, wantStatus: 200},
		{name: "signed by a wrong key", key: otherKey,
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descBadSignature},
		{name: "signed by a wrong key without kid", key: otherKey, header: map[string]string{"alg": "RS256"},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descBadSignature},
		{name: "kid of another key", header: map[string]string{"alg": "RS256", "kid": strings.Repeat("ab", 20)},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descBadSignature},
		{name: "alg RS512", header: map[string]string{"alg": "RS512", "kid": kf.PrivateKeyID},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descBadSignature},
		{name: "unknown service account", edit: func(c map[string]any) { c["iss"] = "nobody@fake-project.iam.gserviceaccount.com" },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descAccountMissing},
		{name: "disabled service account", key: disabledKey, header: map[string]string{"alg": "RS256"},
			edit:       func(c map[string]any) { c["iss"] = "disabled@fake-project.iam.gserviceaccount.com" },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descRobotDisabled},
		{name: "wrong aud", edit: func(c map[string]any) { c["aud"] = "https://example.com/token" },
			wantStatus: 400, wantError: "invalid_grant"},
		{name: "exp-iat over an hour", edit: func(c map[string]any) { c["exp"] = now + 3601 },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descTimeframe},
		{name: "iat far in the future", edit: func(c map[string]any) { c["iat"], c["exp"] = now+600, now+600+3600 },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descTimeframe},
		{name: "expired", edit: func(c map[string]any) { c["iat"], c["exp"] = now-7200, now-3600 },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descTimeframe},
		{name: "no iat", edit: func(c map[string]any) { delete(c, "iat") },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descTimeframe},
		{name: "neither scope nor target_audience", edit: func(c map[string]any) { delete(c, "scope") },
			wantStatus: 400, wantError: "invalid_scope", wantDesc: descNoScope},
		{name: "empty scope", edit: func(c map[string]any) { c["scope"] = "" },
			wantStatus: 400, wantError: "invalid_scope", wantDesc: descNoScope},
		{name: "domain-wide delegation", edit: func(c map[string]any) { c["sub"] = "someone@example.com" },
			wantStatus: 401, wantError: "unauthorized_client", wantDesc: descDWD},
		{name: "no assertion", assertion: "-",
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Missing required parameter: assertion"},
		{name: "garbage assertion", assertion: "not.a.jwt!",
			wantStatus: 400, wantError: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := assertionClaimsFor(DefaultServiceAccount, kf.TokenURI, clock.Now())
			if tt.edit != nil {
				tt.edit(c)
			}
			key, header := priv, goHeader
			if tt.key != nil {
				key = tt.key
			}
			if tt.header != nil {
				header = tt.header
			}
			form := url.Values{"grant_type": {grantJWTBearer}, "assertion": {signJWS(t, key, header, c)}}
			switch tt.assertion {
			case "":
			case "-":
				form.Del("assertion")
			default:
				form.Set("assertion", tt.assertion)
			}
			r := postForm(t, f.URL+"/token", form, nil)
			if tt.wantStatus == http.StatusOK {
				if r.status != http.StatusOK {
					t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
				}
				return
			}
			wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
		})
	}
}

// TestScopeAliasesExpanded checks that short scope names come back as full
// URLs in tokeninfo, as Python's system test expects.
func TestScopeAliasesExpanded(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tok := saAccessToken(t, f, DefaultServiceAccount, "email profile", time.Now())
	m := get(t, f.URL+"/oauth2/v3/tokeninfo?access_token="+url.QueryEscape(tok), nil).json(t)
	want := "https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile"
	if got := m["scope"]; got != want {
		t.Errorf("scope = %q; want %q", got, want)
	}
}

func TestIDTokenGrant(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	kf, priv := saKey(t, f, DefaultServiceAccount)
	sa, _ := f.ServiceAccount(DefaultServiceAccount)

	// Node sends scope along with target_audience; the answer is still only
	// the ID token.
	c := assertionClaimsFor(DefaultServiceAccount, "https://oauth2.googleapis.com/token", clock.Now())
	c["target_audience"] = "https://my-service.example.com"
	r := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {signJWS(t, priv, map[string]string{"alg": "RS256"}, c)}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
	}
	m := r.json(t)
	if got, want := slices.Sorted(maps.Keys(m)), []string{"id_token"}; !slices.Equal(got, want) {
		t.Fatalf("fields = %q; want %q", got, want)
	}
	idt := m["id_token"].(string)
	header, claims := decodeJWT(t, idt)
	jwks := get(t, f.URL+"/oauth2/v3/certs", nil).json(t)
	firstKid := jwks["keys"].([]any)[0].(map[string]any)["kid"].(string)
	wantHeader := map[string]any{"alg": "RS256", "kid": firstKid, "typ": "JWT"}
	if !maps.Equal(header, wantHeader) {
		t.Errorf("header = %v; want %v", header, wantHeader)
	}
	iat := float64(clock.Now().Unix())
	wantClaims := map[string]any{
		"iss": "https://accounts.google.com", "sub": sa.UniqueID, "aud": "https://my-service.example.com",
		"azp": DefaultServiceAccount, "email": DefaultServiceAccount, "email_verified": true,
		"iat": iat, "exp": iat + 3600,
	}
	if !maps.Equal(claims, wantClaims) {
		t.Errorf("claims = %v; want %v", claims, wantClaims)
	}
	if kf.ClientID != sa.UniqueID {
		t.Errorf("key file client_id = %q; want unique id %q", kf.ClientID, sa.UniqueID)
	}
}

func TestRefreshGrant(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	user := f.AddUser("alice@example.com")
	// An id and secret with characters that must be URL-escaped in Basic.
	const oddID, oddSecret = "odd:client/id@example", "s3cr:et+/= %"
	f.AddOAuthClient(oddID, oddSecret)
	f.AddOAuthClient("other-client", "other-secret")

	rtOpenID, err := f.IssueRefreshToken(DefaultClientID, "alice@example.com", []string{"openid", "email", "https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		t.Fatal(err)
	}
	rtPlain, err := f.IssueRefreshToken(oddID, "alice@example.com", []string{"https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		t.Fatal(err)
	}
	rtRevoked, err := f.IssueRefreshToken(DefaultClientID, "alice@example.com", []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	f.RevokeToken(rtRevoked)
	if !strings.HasPrefix(rtOpenID, "1//fake-") {
		t.Errorf("refresh token = %q; want prefix %q", rtOpenID, "1//fake-")
	}

	basic := func(id, secret string) http.Header {
		req, _ := http.NewRequest("POST", "/", nil)
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return http.Header{"Authorization": req.Header["Authorization"]}
	}
	form := func(rt string, kv ...string) url.Values {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		form       url.Values
		header     http.Header
		wantStatus int
		wantError  string
		wantDesc   string
		wantScope  string
		wantIDTok  bool
	}{
		{name: "form credentials with openid", form: form(rtOpenID, "client_id", DefaultClientID, "client_secret", DefaultClientSecret),
			wantStatus: 200, wantIDTok: true,
			wantScope: "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/cloud-platform"},
		{name: "basic credentials, escaped", form: form(rtPlain), header: basic(oddID, oddSecret),
			wantStatus: 200, wantScope: "https://www.googleapis.com/auth/cloud-platform"},
		{name: "narrower scope", form: form(rtOpenID, "client_id", DefaultClientID, "client_secret", DefaultClientSecret, "scope", "email"),
			wantStatus: 200, wantIDTok: true, wantScope: "https://www.googleapis.com/auth/userinfo.email"},
		{name: "scope not granted", form: form(rtPlain, "client_id", oddID, "client_secret", oddSecret, "scope", "openid"),
			wantStatus: 400, wantError: "invalid_scope"},
		{name: "unknown client", form: form(rtOpenID, "client_id", "nope", "client_secret", "x"),
			wantStatus: 401, wantError: "invalid_client", wantDesc: descClientNotFound},
		{name: "wrong secret", form: form(rtOpenID, "client_id", DefaultClientID, "client_secret", "wrong"),
			wantStatus: 401, wantError: "invalid_client", wantDesc: descBadSecret},
		{name: "wrong secret via basic", form: form(rtPlain), header: basic(oddID, "wrong"),
			wantStatus: 401, wantError: "invalid_client", wantDesc: descBadSecret},
		{name: "basic without escaping is a different secret", form: form(rtPlain),
			header:     http.Header{"Authorization": {"Basic " + basicRaw(oddID, "s3cr%3Aet")}},
			wantStatus: 401, wantError: "invalid_client"},
		{name: "no client id", form: form(rtOpenID),
			wantStatus: 400, wantError: "invalid_request"},
		{name: "unknown refresh token", form: form("1//fake-nope", "client_id", DefaultClientID, "client_secret", DefaultClientSecret),
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descRefreshRevoked},
		{name: "revoked refresh token", form: form(rtRevoked, "client_id", DefaultClientID, "client_secret", DefaultClientSecret),
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descRefreshRevoked},
		{name: "token of another client", form: form(rtOpenID, "client_id", "other-client", "client_secret", "other-secret"),
			wantStatus: 400, wantError: "invalid_grant", wantDesc: descRefreshRevoked},
		{name: "missing refresh token", form: form("", "client_id", DefaultClientID, "client_secret", DefaultClientSecret),
			wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := postForm(t, f.URL+"/token", tt.form, tt.header)
			if tt.wantStatus != http.StatusOK {
				wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
			}
			m := r.json(t)
			wantFields := []string{"access_token", "expires_in", "scope", "token_type"}
			if tt.wantIDTok {
				wantFields = []string{"access_token", "expires_in", "id_token", "scope", "token_type"}
			}
			if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, wantFields) {
				t.Errorf("fields = %q; want %q", got, wantFields)
			}
			if got := m["scope"]; got != tt.wantScope {
				t.Errorf("scope = %q; want %q", got, tt.wantScope)
			}
			if got, ok := m["expires_in"].(float64); !ok || got != 3599 {
				t.Errorf("expires_in = %#v; want number 3599", m["expires_in"])
			}
			if !tt.wantIDTok {
				return
			}
			_, claims := decodeJWT(t, m["id_token"].(string))
			iat := float64(clock.Now().Unix())
			want := map[string]any{
				"iss": "https://accounts.google.com", "azp": DefaultClientID, "aud": DefaultClientID,
				"sub": user.Subject, "email": "alice@example.com", "email_verified": true,
				"iat": iat, "exp": iat + 3600, "at_hash": atHash(m["access_token"].(string)),
			}
			if !maps.Equal(claims, want) {
				t.Errorf("ID token claims = %v; want %v", claims, want)
			}
		})
	}
}

func basicRaw(id, secret string) string {
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestTokenEndpointRejects(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tests := []struct {
		name       string
		method     string
		form       url.Values
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{"unsupported grant", "POST", url.Values{"grant_type": {"password"}}, 400, "unsupported_grant_type", "Invalid grant_type: password"},
		{"missing grant", "POST", url.Values{}, 400, "unsupported_grant_type", "Invalid grant_type: "},
		{"device grant without a client", "POST", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}, 400, "invalid_request", "Could not determine client ID from request."},
		{"GET", "GET", nil, 405, "invalid_request", ""},
	}
	for _, path := range []string{"/token", "/o/oauth2/token", "/oauth2/v4/token"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				var r response
				if tt.method == "GET" {
					r = get(t, f.URL+path, nil)
				} else {
					r = postForm(t, f.URL+path, tt.form, nil)
				}
				wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
			})
		}
	}
}

func TestUnmodelledPath(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	r := get(t, f.URL+"/x", nil)
	if r.status != http.StatusNotFound {
		t.Errorf("status = %d; want 404", r.status)
	}
	// Google's own 404 page, naming the path.
	if !strings.Contains(string(r.body), "<title>Error 404 (Not Found)!!1</title>") ||
		!strings.Contains(string(r.body), "The requested URL <code>/x</code> was not found on this server.") {
		t.Errorf("body = %q; want Google's 404 page for /x", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=UTF-8" {
		t.Errorf("Content-Type = %q; want Google's text/html; charset=UTF-8", ct)
	}
}

// TestUnknownScope asks for a scope no Google API has: Google answers
// invalid_scope with the text it gives for a missing scope, until the scope
// is added with AllowScopes.
func TestUnknownScope(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	kf, priv := saKey(t, f, DefaultServiceAccount)
	const bogus = "https://www.googleapis.com/auth/no-such-api"
	grant := func() response {
		c := assertionClaimsFor(DefaultServiceAccount, kf.TokenURI, time.Now())
		c["scope"] = scopeCloudPlatform + " " + bogus
		a := signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}, c)
		return postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
	}
	wantOAuthError(t, grant(), http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	if _, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{bogus}); err == nil {
		t.Error("IssueRefreshToken with an unknown scope succeeded")
	}
	for _, known := range []string{"https://www.googleapis.com/auth/iam", "https://www.googleapis.com/auth/devstorage.read_only", "https://mail.google.com/", "openid"} {
		if !f.KnownScope(known) {
			t.Errorf("KnownScope(%q) = false; want true", known)
		}
	}
	f.AllowScopes(bogus)
	if r := grant(); r.status != http.StatusOK {
		t.Errorf("after AllowScopes: %d %s; want 200", r.status, r.body)
	}
}
