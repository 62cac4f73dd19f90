package credentials

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// checkRefresh asserts the refresh-token grant's form fields.
func checkRefresh(t *testing.T, form url.Values, scope string, wantScope bool) {
	t.Helper()
	for k, want := range map[string]string{
		"grant_type":    "refresh_token",
		"refresh_token": testRefreshToken,
		"client_id":     testClientID,
		"client_secret": testClientSecret,
	} {
		if got := form.Get(k); got != want {
			t.Errorf("got %s = %q; want %q", k, got, want)
		}
	}
	got, ok := form["scope"]
	switch {
	case wantScope && (!ok || got[0] != scope):
		t.Errorf("got scope = %q; want %q", got, scope)
	case !wantScope && ok:
		t.Errorf("got scope = %q; want no scope field", got)
	}
}

func TestAuthorizedUserAccessToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scopes []string
	}{
		{"no scopes sends no scope", nil},
		{"scopes are sent space-separated", []string{"openid", "https://www.googleapis.com/auth/cloud-platform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const granted = "openid https://www.googleapis.com/auth/cloud-platform"
			ts := newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
				checkRefresh(t, form, strings.Join(tt.scopes, " "), tt.scopes != nil)
				return 200, map[string]any{"access_token": "ya29.user", "expires_in": 3599, "token_type": "Bearer", "scope": granted, "id_token": "x.y.z"}
			})
			// The file's token_uri is honoured (Google's Go library ignores it).
			c, err := FromJSON(mustJSON(t, auFile(ts.tokenURL())), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := c.AccessTokenSource(tt.scopes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				tok, err := tp.Token(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if tok.Value != "ya29.user" || tok.Kind != gcptoken.AccessToken {
					t.Errorf("got token %q kind %q; want ya29.user access_token", tok.Value, tok.Kind)
				}
				if got := tok.Metadata[gcptoken.MetaScope]; got != granted {
					t.Errorf("got Metadata[scope] = %q; want %q", got, granted)
				}
				if got := tok.Metadata[gcptoken.MetaIDToken]; got != "x.y.z" {
					t.Errorf("got Metadata[id_token] = %q; want %q", got, "x.y.z")
				}
				if _, ok := tok.Metadata["refresh_token"]; ok {
					t.Errorf("Metadata has a refresh_token; want none")
				}
				if d := time.Until(tok.Expiry); d < 3500*time.Second {
					t.Errorf("got expiry in %v; want about 3599s", d)
				}
				if got := ts.calls.Load(); got != int32(i+1) {
					t.Errorf("got %d requests after %d calls; want %d: the source must not cache", got, i+1, i+1)
				}
			}
		})
	}
}

// Without expires_in the source must still ask every time (auth's own cache
// would keep such a token forever).
func TestAuthorizedUserNoExpiryIsNotCached(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		return 200, map[string]any{"access_token": "ya29.user"}
	})
	c, err := FromJSON(mustJSON(t, auFile(ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := c.AccessTokenSource(nil)
	for range 3 {
		tok, err := tp.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !tok.Expiry.IsZero() {
			t.Errorf("got Expiry = %v; want zero (unknown)", tok.Expiry)
		}
	}
	if got := ts.calls.Load(); got != 3 {
		t.Errorf("got %d requests; want 3", got)
	}
}

func TestAuthorizedUserRotatedRefreshToken(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	ts := newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, form.Get("refresh_token"))
		return 200, map[string]any{"access_token": "ya29.user", "expires_in": 3599, "refresh_token": "1//rotated"}
	})
	c, err := FromJSON(mustJSON(t, auFile(ts.tokenURL())), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := c.Identity()
	tp, _ := c.AccessTokenSource(nil)
	for range 2 {
		if _, err := tp.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != testRefreshToken || seen[1] != "1//rotated" {
		t.Errorf("got refresh tokens sent = %q; want [%q %q]", seen, testRefreshToken, "1//rotated")
	}
	if got := c.Identity(); got != id {
		t.Errorf("got Identity() = %q after rotation; want it unchanged %q", got, id)
	}
}

func TestAuthorizedUserTokenURLOption(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		return 200, map[string]any{"access_token": "ya29.user", "expires_in": 3599}
	})
	opts := isolated(t, nil)
	opts.TokenURL = ts.tokenURL()
	c, err := FromJSON(mustJSON(t, auFile(closedURL(t))), opts) // the option wins over the file
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := c.AccessTokenSource(nil)
	if _, err := tp.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := c.TokenEndpoints(); len(got) != 1 || got[0] != ts.tokenURL() {
		t.Errorf("got TokenEndpoints() = %q; want [%q]", got, ts.tokenURL())
	}
}

func TestAuthorizedUserIDToken(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	idTok := fakeJWT(t, map[string]any{"aud": testClientID, "azp": testClientID, "exp": exp.Unix(), "sub": "1234"})
	tests := []struct {
		name        string
		body        map[string]any
		wantErr     string
		wantInvalid bool
	}{
		{name: "id_token", body: map[string]any{"access_token": "ya29.user", "expires_in": 3599, "id_token": idTok}},
		{name: "no id_token", body: map[string]any{"access_token": "ya29.user", "expires_in": 3599}, wantErr: "the refresh response has no id_token: the credential was not granted the openid scope", wantInvalid: true},
		{name: "malformed id_token", body: map[string]any{"access_token": "ya29.user", "expires_in": 3599, "id_token": "abc"}, wantErr: "malformed ID token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
				checkRefresh(t, form, "", false)
				return 200, tt.body
			})
			c, err := FromJSON(mustJSON(t, auFile(ts.tokenURL())), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := c.IDTokenSource("https://svc.example.com", nil)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(t.Context())
			if tt.wantErr != "" {
				wantErrContains(t, err, tt.wantErr)
				if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.wantInvalid {
					t.Errorf("errors.Is(%v, ErrInvalidCredentials) = %v; want %v", err, got, tt.wantInvalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != idTok || tok.Kind != gcptoken.IDToken {
				t.Errorf("got token %q kind %q; want the id_token, kind id_token", tok.Value, tok.Kind)
			}
			if !tok.Expiry.Equal(exp) {
				t.Errorf("got Expiry = %v; want %v", tok.Expiry, exp)
			}
			// The real audience, not the one asked for.
			if got := tok.Metadata[gcptoken.MetaAudience]; got != testClientID {
				t.Errorf("got Metadata[audience] = %q; want %q", got, testClientID)
			}
		})
	}
}

func TestAuthorizedUserErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          any
		closed        bool
		wantInvalid   bool
		wantTemporary bool
		wantUnavail   bool
		want          string
	}{
		{name: "invalid_grant", status: 400, body: map[string]any{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, wantInvalid: true, want: "HTTP 400 invalid_grant: Token has been expired or revoked."},
		{name: "invalid_client", status: 401, body: map[string]any{"error": "invalid_client", "error_description": "The OAuth client was not found."}, wantInvalid: true, want: "invalid_client"},
		{name: "error in a 200", status: 200, body: map[string]any{"error": "invalid_grant"}, wantInvalid: true, want: "invalid_grant"},
		{name: "503", status: 503, body: map[string]any{"error": "backend"}, wantTemporary: true, wantUnavail: true, want: "HTTP 503"},
		{name: "closed listener", closed: true, wantTemporary: true, wantUnavail: true, want: "fetch access token from http://127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var u string
			if tt.closed {
				u = closedURL(t)
			} else {
				u = newTokenServer(t, func(*testing.T, url.Values) (int, any) { return tt.status, tt.body }).tokenURL()
			}
			c, err := FromJSON(mustJSON(t, auFile(u)), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := c.AccessTokenSource(nil)
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
			assertNoSecrets(t, "error", err.Error())
		})
	}
}
