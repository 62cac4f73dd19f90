package fakegoogle

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestUserinfo(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	user := f.AddUser("jane-q-public@example.com")
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	all := userAccessToken(t, f, user.Email, "openid", "email", "profile")
	emailOnly := userAccessToken(t, f, user.Email, "email")
	openidOnly := userAccessToken(t, f, user.Email, "openid")
	saEmail := saAccessToken(t, f, DefaultServiceAccount, "email", time.Now())
	cloudOnly := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())

	tests := []struct {
		name, token string
		oidc, v2    map[string]any // nil: refused
	}{
		{"openid email profile", all,
			map[string]any{"sub": user.Subject, "email": user.Email, "email_verified": true, "name": "Jane Q Public",
				"given_name": "Jane Q", "family_name": "Public", "picture": defaultPicture},
			map[string]any{"id": user.Subject, "email": user.Email, "verified_email": true, "name": "Jane Q Public",
				"given_name": "Jane Q", "family_name": "Public", "picture": defaultPicture}},
		{"email only", emailOnly,
			map[string]any{"sub": user.Subject, "email": user.Email, "email_verified": true},
			map[string]any{"id": user.Subject, "email": user.Email, "verified_email": true}},
		{"openid only", openidOnly, map[string]any{"sub": user.Subject}, map[string]any{"id": user.Subject}},
		{"service account with email", saEmail,
			map[string]any{"sub": sa.UniqueID, "email": sa.Email, "email_verified": true},
			map[string]any{"id": sa.UniqueID, "email": sa.Email, "verified_email": true}},
		{"no userinfo scope", cloudOnly, nil, nil},
		{"unknown token", "ya29.nope", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bearer := http.Header{"Authorization": {"Bearer " + tt.token}}
			for _, p := range []string{"/v1/userinfo", "/oauth2/v3/userinfo", "/oauth2/v2/userinfo", "/oauth2/v1/userinfo"} {
				want, v2 := tt.oidc, strings.Contains(p, "/oauth2/v1/") || strings.Contains(p, "/oauth2/v2/")
				if v2 {
					want = tt.v2
				}
				r := get(t, f.URL+p, bearer)
				if want == nil {
					wantStatus := http.StatusUnauthorized
					if v2 && tt.token == cloudOnly {
						wantStatus = http.StatusForbidden // ESF: insufficient scope
					}
					if r.status != wantStatus || r.header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: status %d, WWW-Authenticate %q; want %d with a challenge (body %s)",
							p, r.status, r.header.Get("WWW-Authenticate"), wantStatus, r.body)
					}
					if !v2 {
						wantOAuthError(t, r, http.StatusUnauthorized, "invalid_request", "Invalid Credentials")
					}
					continue
				}
				if got := r.json(t); r.status != http.StatusOK || !maps.Equal(got, want) {
					t.Errorf("%s: %d %v; want 200 %v", p, r.status, got, want)
				}
			}
		})
	}
	// The token may also come as access_token, as Google accepts.
	if r := get(t, f.URL+"/oauth2/v3/userinfo?access_token="+url.QueryEscape(openidOnly), nil); r.status != http.StatusOK {
		t.Errorf("access_token parameter: status %d; want 200", r.status)
	}
	if r := get(t, f.URL+"/v1/userinfo", nil); r.status != http.StatusUnauthorized {
		t.Errorf("no token: status %d; want 401", r.status)
	}
}
