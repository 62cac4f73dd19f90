package credentials

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

const testSubject = "user@example.com"

func TestWithSubjectServiceAccount(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		c := checkAssertion(t, form, ts.tokenURL())
		sub, _ := c["sub"].(string)
		// A bearer token has no '@': the subject is spelt with dots.
		return 200, map[string]any{"access_token": "ya29.sub." + strings.ReplaceAll(sub, "@", "."), "expires_in": 3600, "token_type": "Bearer"}
	})
	sa, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	u, err := sa.WithSubject(testSubject)
	if err != nil {
		t.Fatal(err)
	}
	if u.Principal != testSubject || u.Type != TypeServiceAccount || u.Source != "credentials JSON, acting as "+testSubject {
		t.Errorf("got Type %q, Principal %q, Source %q; want service_account, %q, credentials JSON, acting as …", u.Type, u.Principal, u.Source, testSubject)
	}
	if sa.Principal != testEmail {
		t.Errorf("WithSubject changed the original: Principal = %q", sa.Principal)
	}
	if want := "service_account|" + testEmail + "|" + testKeyID + "|sub:" + testSubject; u.Identity() != want {
		t.Errorf("got Identity() = %q; want %q", u.Identity(), want)
	}
	if want := "service_account|" + testEmail + "|" + testKeyID; sa.Identity() != want {
		t.Errorf("got Identity() = %q without a subject; want %q (unchanged)", sa.Identity(), want)
	}
	for _, c := range []struct {
		creds *Credentials
		want  string
	}{{u, "ya29.sub." + strings.ReplaceAll(testSubject, "@", ".")}, {sa, "ya29.sub."}} {
		tp, err := c.creds.AccessTokenSource([]string{"https://www.googleapis.com/auth/admin.directory.user.readonly"})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tp.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value != c.want {
			t.Errorf("got token %q; want %q", tok.Value, c.want)
		}
	}
	// A second subject replaces the first.
	v, err := u.WithSubject("other@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if v.Source != "credentials JSON, acting as other@example.com" || !strings.HasSuffix(v.Identity(), "|sub:other@example.com") {
		t.Errorf("got Source %q, Identity %q; want only the second subject", v.Source, v.Identity())
	}
	if _, err := u.IDTokenSource("aud", nil); !errors.Is(err, errSubjectIDToken) {
		t.Errorf("got IDTokenProvider error %v; want %v", err, errSubjectIDToken)
	}
	if _, err := u.SelfSignedJWTSource("https://pubsub.googleapis.com/", nil); err == nil || !strings.Contains(err.Error(), "cannot act as a user") {
		t.Errorf("got SelfSignedJWTProvider error %v; want one about acting as a user", err)
	}
}

// TestWithSubjectImpersonated runs domain-wide delegation without a key:
// the source's token → IAM signJwt as the target (through a delegate) → the
// token endpoint's JWT-bearer grant.
func TestWithSubjectImpersonated(t *testing.T) {
	t.Parallel()
	const scopes = "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/drive"
	src := sourceServer(t)
	var signed string
	var dwd *tokenServer
	dwd = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		if got := form.Get("grant_type"); got != jwtBearer {
			t.Errorf("got grant_type = %q; want %q", got, jwtBearer)
		}
		if got := form.Get("assertion"); got != signed {
			t.Errorf("got assertion %q; want the JWT IAM signed", got)
		}
		h, c := decodeAssertion(t, form.Get("assertion"))
		if h["alg"] != "RS256" {
			t.Errorf("got alg %v; want RS256", h["alg"])
		}
		if c["iss"] != targetSA || c["sub"] != testSubject || c["aud"] != dwd.tokenURL() || c["scope"] != scopes {
			t.Errorf("got claims %v; want iss %s, sub %s, aud %s, scope %q", c, targetSA, testSubject, dwd.tokenURL(), scopes)
		}
		return 200, map[string]any{"access_token": "ya29.user", "expires_in": 3599, "token_type": "Bearer", "scope": scopes}
	})
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		if r.Account != targetSA || r.Method != "signJwt" {
			t.Errorf("got %s:%s; want %s:signJwt", r.Account, r.Method, targetSA)
		}
		if r.Auth != "Bearer "+sourceToken {
			t.Errorf("got Authorization = %q; want %q", r.Auth, "Bearer "+sourceToken)
		}
		payload, _ := r.Body["payload"].(string)
		wantBody(t, r.Body, map[string]any{"delegates": []string{"projects/-/serviceAccounts/" + delegateA}, "payload": payload})
		var c map[string]any
		if err := json.Unmarshal([]byte(payload), &c); err != nil {
			t.Fatalf("payload is not a JSON object: %v", err)
		}
		iat, _ := c["iat"].(float64)
		exp, _ := c["exp"].(float64)
		if now := float64(time.Now().Unix()); iat < now-60 || iat > now+5 || exp != iat+3600 {
			t.Errorf("got iat %v, exp %v; want now and now+3600", iat, exp)
		}
		delete(c, "iat")
		delete(c, "exp")
		wantBody(t, c, map[string]any{"iss": targetSA, "sub": testSubject, "aud": dwd.tokenURL(), "scope": scopes})
		signed = signWithTestKey(t, payload)
		return 200, map[string]any{"keyId": testKeyID, "signedJwt": signed}
	})
	imp, err := Impersonate(sourceCreds(t, src), &ImpersonateOptions{
		Target: targetSA, Delegates: []string{delegateA}, IAMEndpoint: iam.URL, TokenURL: dwd.tokenURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := imp.WithSubject(testSubject)
	if err != nil {
		t.Fatal(err)
	}
	if u.Principal != testSubject || imp.Principal != targetSA {
		t.Errorf("got Principal %q (original %q); want %q (%q)", u.Principal, imp.Principal, testSubject, targetSA)
	}
	tp, err := u.AccessTokenSource(strings.Fields(scopes))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != "ya29.user" || tok.Kind != gcptoken.AccessToken || tok.Metadata[gcptoken.MetaScope] != scopes {
		t.Errorf("got token %q kind %q scope %q; want ya29.user", tok.Value, tok.Kind, tok.Metadata[gcptoken.MetaScope])
	}
	if d := time.Until(tok.Expiry); d < 3500*time.Second || d > 3600*time.Second {
		t.Errorf("got expiry in %v; want about 3599s", d)
	}
	if n := len(iam.requests()); n != 1 || dwd.calls.Load() != 1 {
		t.Errorf("got %d IAM and %d token requests; want 1 and 1", n, dwd.calls.Load())
	}
	eps := u.TokenEndpoints()
	for _, want := range []string{iam.url(targetSA, "signJwt"), dwd.tokenURL()} {
		if !strings.Contains(strings.Join(eps, " "), want) {
			t.Errorf("got TokenEndpoints() = %q; want %q among them", eps, want)
		}
	}
	if _, err := u.IDTokenSource("aud", nil); !errors.Is(err, errSubjectIDToken) {
		t.Errorf("got IDTokenProvider error %v; want %v", err, errSubjectIDToken)
	}
	if _, err := u.AccessTokenSource(nil); err != nil {
		t.Errorf("got %v for an access token without scopes; want the default scope", err)
	}
}

func TestWithSubjectImpersonatedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		iamStatus int
		iamBody   any
		tokStatus int
		tokBody   any
		want      []string
		invalid   bool
	}{
		{
			name:      "signJwt refused",
			iamStatus: 403,
			iamBody:   apiErrorBody(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.signJwt' denied on resource (or it may not exist).", "IAM_PERMISSION_DENIED", map[string]string{"permission": "iam.serviceAccounts.signJwt"}),
			want:      []string{"impersonate " + targetSA + " as " + testSubject + ": sign JWT from ", ":signJwt: HTTP 403 PERMISSION_DENIED", "needs roles/iam.serviceAccountTokenCreator on " + targetSA},
			invalid:   true,
		},
		{
			name:      "no signedJwt",
			iamStatus: 200, iamBody: map[string]any{"keyId": "k"},
			want: []string{"the response has no signedJwt"},
		},
		{
			name:      "domain-wide delegation not allowed",
			iamStatus: 200, iamBody: map[string]any{"keyId": "k", "signedJwt": "a.b.c"},
			tokStatus: 401, tokBody: map[string]any{"error": "unauthorized_client", "error_description": "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."},
			want:    []string{"impersonate " + targetSA + " as " + testSubject + ": exchange signed JWT for access token from ", "HTTP 401 unauthorized_client: Client is unauthorized"},
			invalid: true,
		},
		{
			name:      "token response without expires_in",
			iamStatus: 200, iamBody: map[string]any{"keyId": "k", "signedJwt": "a.b.c"},
			tokStatus: 200, tokBody: map[string]any{"access_token": "x"},
			want: []string{"no positive expires_in"},
		},
		{
			name:      "token response with an error field",
			iamStatus: 200, iamBody: map[string]any{"keyId": "k", "signedJwt": "a.b.c"},
			tokStatus: 200, tokBody: map[string]any{"error": "invalid_grant", "error_description": "Invalid impersonation \"sub\" field"},
			want:    []string{"HTTP 200 invalid_grant: Invalid impersonation \"sub\" field"},
			invalid: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iam := newIAMServer(t, func(*testing.T, iamRequest) (int, any) { return tt.iamStatus, tt.iamBody })
			tok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.tokStatus == 0 {
					t.Error("the token endpoint was called after signJwt failed")
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.tokStatus)
				json.NewEncoder(w).Encode(tt.tokBody)
			}))
			t.Cleanup(tok.Close)
			imp, err := Impersonate(sourceCreds(t, sourceServer(t)), &ImpersonateOptions{Target: targetSA, IAMEndpoint: iam.URL, TokenURL: tok.URL + "/token"})
			if err != nil {
				t.Fatal(err)
			}
			u, err := imp.WithSubject(testSubject)
			if err != nil {
				t.Fatal(err)
			}
			tp, err := u.AccessTokenSource([]string{scopeCP})
			if err != nil {
				t.Fatal(err)
			}
			_, err = tp.Token(t.Context())
			wantErrContains(t, err, tt.want...)
			if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.invalid {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = %v; want %v", err, got, tt.invalid)
			}
		})
	}
}

func TestWithSubjectErrors(t *testing.T) {
	t.Parallel()
	au, err := FromJSON(mustJSON(t, auFile("")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := FromJSON(mustJSON(t, saFile(t, "")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := newMetadata(&settings{Options: Options{Getenv: env(nil)}}, "127.0.0.1:1")
	byID, err := Impersonate(sa, &ImpersonateOptions{Target: "123456789012345678901"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		c       *Credentials
		subject string
		want    string
	}{
		{"authorized_user", au, testSubject, "a subject needs a service-account key or impersonation (signJwt); authorized_user credentials have neither"},
		{"metadata server", md, testSubject, "a subject needs a service-account key or impersonation (signJwt); compute_metadata credentials have neither"},
		{"empty subject", sa, "", "empty subject"},
		{"not an email", sa, "someone", `subject "someone" is not an email address`},
		{"bar in subject", sa, "a|b@example.com", "is not an email address"},
		{"target by unique id", byID, testSubject, `the impersonation target "123456789012345678901" must be an email`},
		{"not loaded", &Credentials{}, testSubject, "must come from Detect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.c.WithSubject(tt.subject)
			wantErrContains(t, err, tt.want)
		})
	}
}
