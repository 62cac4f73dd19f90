package credentials

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// checkAssertion asserts the JWT-bearer form and returns the assertion's
// claims after checking its header and the claims common to both grants.
func checkAssertion(t *testing.T, form url.Values, aud string) map[string]any {
	t.Helper()
	if got := form.Get("grant_type"); got != jwtBearer {
		t.Errorf("got grant_type = %q; want %q", got, jwtBearer)
	}
	for k := range form {
		if k != "grant_type" && k != "assertion" {
			t.Errorf("got form field %q; want only grant_type and assertion", k)
		}
	}
	h, c := decodeAssertion(t, form.Get("assertion"))
	if h["alg"] != "RS256" || h["kid"] != testKeyID {
		t.Errorf("got header alg = %v, kid = %v; want RS256, %q", h["alg"], h["kid"], testKeyID)
	}
	if c["iss"] != testEmail {
		t.Errorf("got iss = %v; want %q", c["iss"], testEmail)
	}
	if c["aud"] != aud {
		t.Errorf("got aud = %v; want %q", c["aud"], aud)
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if now := float64(time.Now().Unix()); iat < now-60 || iat > now+5 || exp-iat > 3600 || exp <= now {
		t.Errorf("got iat = %v, exp = %v; want a window of at most an hour around now", iat, exp)
	}
	return c
}

func TestServiceAccountAccessToken(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		c := checkAssertion(t, form, ts.tokenURL())
		if got, want := c["scope"], "https://www.googleapis.com/auth/cloud-platform openid"; got != want {
			t.Errorf("got scope = %v; want %q", got, want)
		}
		if _, ok := c["target_audience"]; ok {
			t.Errorf("got target_audience in an access-token assertion; want none")
		}
		return 200, map[string]any{"access_token": "ya29.sa", "expires_in": 3599, "token_type": "Bearer"}
	})
	c, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.AccessTokenSource([]string{"https://www.googleapis.com/auth/cloud-platform", "openid"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // plain source: every call is a request
		tok, err := tp.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value != "ya29.sa" || tok.Kind != gcptoken.AccessToken || tok.TokenType() != "Bearer" {
			t.Errorf("got token %q kind %q type %q; want ya29.sa access_token Bearer", tok.Value, tok.Kind, tok.TokenType())
		}
		if d := time.Until(tok.Expiry); d < 3500*time.Second || d > 3600*time.Second {
			t.Errorf("got expiry in %v; want about 3599s", d)
		}
		if got := ts.calls.Load(); got != int32(i+1) {
			t.Errorf("got %d requests after %d calls; want %d", got, i+1, i+1)
		}
	}
}

func TestServiceAccountTokenURLOption(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		checkAssertion(t, form, ts.tokenURL()) // aud follows the override
		return 200, map[string]any{"access_token": "ya29.sa", "expires_in": 3599}
	})
	opts := isolated(t, nil)
	opts.TokenURL = ts.tokenURL()
	c, err := FromJSON(mustJSON(t, saFile(t, "https://oauth2.googleapis.com/token")), opts)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.AccessTokenSource([]string{"s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// Without scopes a service account asks for DefaultScope, as gcloud does.
func TestServiceAccountDefaultScope(t *testing.T) {
	t.Parallel()
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		if got := checkAssertion(t, form, ts.tokenURL())["scope"]; got != DefaultScope {
			t.Errorf("got scope = %v; want %q", got, DefaultScope)
		}
		return 200, map[string]any{"access_token": "ya29.sa", "expires_in": 3599}
	})
	c, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.AccessTokenSource(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestServiceAccountIDToken(t *testing.T) {
	t.Parallel()
	const aud = "https://svc-abc-uc.a.run.app"
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	var ts *tokenServer
	ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		c := checkAssertion(t, form, ts.tokenURL())
		if got := c["target_audience"]; got != aud {
			t.Errorf("got target_audience = %v; want %q", got, aud)
		}
		if s, ok := c["scope"]; ok {
			t.Errorf("got scope = %v in an ID-token assertion; want none", s)
		}
		return 200, map[string]any{"id_token": fakeJWT(t, map[string]any{"aud": aud, "exp": exp.Unix(), "iss": "https://accounts.google.com"})}
	})
	c, err := FromJSON(mustJSON(t, saFile(t, ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.IDTokenSource("", nil); err == nil {
		t.Errorf("IDTokenProvider(\"\") succeeded; want an error")
	}
	tp, err := c.IDTokenSource(aud, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Kind != gcptoken.IDToken {
		t.Errorf("got Kind = %q; want %q", tok.Kind, gcptoken.IDToken)
	}
	if !tok.Expiry.Equal(exp) {
		t.Errorf("got Expiry = %v; want %v", tok.Expiry, exp)
	}
	if got := tok.Metadata[gcptoken.MetaAudience]; got != aud {
		t.Errorf("got Metadata[audience] = %q; want %q", got, aud)
	}
}

func TestServiceAccountErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          any
		url           string // instead of the server
		wantInvalid   bool
		wantTemporary bool
		wantUnavail   bool
		wantCode      string
		want          string
	}{
		{name: "invalid_grant", status: 400, body: map[string]any{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, wantInvalid: true, wantCode: "invalid_grant", want: "HTTP 400 invalid_grant: Invalid JWT Signature."},
		{name: "503", status: 503, body: map[string]any{"error": "temporarily_unavailable"}, wantTemporary: true, wantUnavail: true, want: "HTTP 503"},
		{name: "200 without a token", status: 200, body: map[string]any{"token_type": "Bearer"}, want: "no access_token"},
		{name: "closed listener", url: "closed", wantTemporary: true, wantUnavail: true, want: "fetch access token from http://127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := tt.url
			if u == "closed" {
				u = closedURL(t)
			} else {
				u = newTokenServer(t, func(*testing.T, url.Values) (int, any) { return tt.status, tt.body }).tokenURL()
			}
			c, err := FromJSON(mustJSON(t, saFile(t, u)), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := c.AccessTokenSource([]string{"s"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = tp.Token(t.Context())
			wantErrContains(t, err, tt.want)
			if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.wantInvalid {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = %v; want %v", err, got, tt.wantInvalid)
			}
			if got := gcptoken.IsTemporary(err); got != tt.wantTemporary {
				t.Errorf("IsTemporary(%v) = %v; want %v", err, got, tt.wantTemporary)
			}
			if got := gcptoken.IsUnavailable(err); got != tt.wantUnavail {
				t.Errorf("IsUnavailable(%v) = %v; want %v", err, got, tt.wantUnavail)
			}
			var ge *gcptoken.Error
			if tt.wantCode != "" && (!errors.As(err, &ge) || ge.Code != tt.wantCode || ge.StatusCode != tt.status) {
				t.Errorf("got error %#v; want *gcptoken.Error with status %d code %q", err, tt.status, tt.wantCode)
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
}
