package fakegoogle

import (
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokeninfoAccessToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	user := f.AddUser("bob@example.com")
	rt, err := f.IssueRefreshToken(DefaultClientID, "bob@example.com", []string{"email", "openid"})
	if err != nil {
		t.Fatal(err)
	}
	userTok := refresh(t, f, DefaultClientID, DefaultClientSecret, rt).json(t)["access_token"].(string)
	saTok := saAccessToken(t, f, DefaultServiceAccount, "https://www.googleapis.com/auth/cloud-platform email", clock.Now())
	saNoEmail := saAccessToken(t, f, DefaultServiceAccount, "https://www.googleapis.com/auth/cloud-platform", clock.Now())
	clock.Advance(100 * time.Second)
	// Tokens are issued with expires_in 3599 (Google reports one second
	// less than the hour); tokeninfo agrees with that, 100 s later.
	exp := strconv.FormatInt(clock.Now().Unix()+3499, 10)

	wantSA := map[string]string{
		"azp": sa.UniqueID, "aud": sa.UniqueID, "sub": sa.UniqueID,
		"scope": "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email",
		"exp":   exp, "expires_in": "3499", "email": DefaultServiceAccount, "email_verified": "true", "access_type": "online",
	}
	wantSANoEmail := map[string]string{
		"azp": sa.UniqueID, "aud": sa.UniqueID, "sub": sa.UniqueID,
		"scope": "https://www.googleapis.com/auth/cloud-platform",
		"exp":   exp, "expires_in": "3499", "access_type": "online",
	}
	wantUser := map[string]string{
		"azp": DefaultClientID, "aud": DefaultClientID, "sub": user.Subject,
		"scope": "https://www.googleapis.com/auth/userinfo.email openid",
		"exp":   exp, "expires_in": "3499", "email": "bob@example.com", "email_verified": "true", "access_type": "offline",
	}
	tests := []struct {
		name string
		do   func(t *testing.T) response
		want map[string]string
	}{
		{"GET v3 query", func(t *testing.T) response {
			return get(t, f.URL+"/oauth2/v3/tokeninfo?access_token="+url.QueryEscape(saTok), nil)
		}, wantSA},
		{"POST form", func(t *testing.T) response {
			return postForm(t, f.URL+"/tokeninfo", url.Values{"access_token": {saTok}}, nil)
		}, wantSA},
		{"no email scope", func(t *testing.T) response {
			return get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(saNoEmail), nil)
		}, wantSANoEmail},
		{"node: POST bearer, empty body", func(t *testing.T) response {
			return postForm(t, f.URL+"/tokeninfo", url.Values{}, http.Header{"Authorization": {"Bearer " + userTok}})
		}, wantUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.do(t)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
			}
			got := map[string]string{}
			for k, v := range r.json(t) {
				s, ok := v.(string)
				if !ok {
					t.Errorf("field %s = %#v; want a string", k, v)
				}
				got[k] = s
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("tokeninfo = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestTokeninfoIDToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	idt := saIDToken(t, f, DefaultServiceAccount, "aud-1", clock.Now())
	header, _ := decodeJWT(t, idt)
	iat := strconv.FormatInt(clock.Now().Unix(), 10)
	exp := strconv.FormatInt(clock.Now().Unix()+3600, 10)
	want := map[string]any{
		"iss": "https://accounts.google.com", "sub": sa.UniqueID, "aud": "aud-1", "azp": DefaultServiceAccount,
		"email": DefaultServiceAccount, "email_verified": "true", "iat": iat, "exp": exp,
		"alg": "RS256", "kid": header["kid"], "typ": "JWT",
	}
	for _, path := range []string{"/tokeninfo", "/oauth2/v3/tokeninfo"} {
		r := get(t, f.URL+path+"?id_token="+idt, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status = %d; want 200 (body %s)", path, r.status, r.body)
		}
		if got := r.json(t); !maps.Equal(got, want) {
			t.Errorf("%s: tokeninfo = %v; want %v", path, got, want)
		}
	}
}

func TestTokeninfoInvalid(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	other := newFake(t, nil)
	accessTok := saAccessToken(t, f, DefaultServiceAccount, "email", clock.Now())
	idt := saIDToken(t, f, DefaultServiceAccount, "aud", clock.Now())
	foreignIDT := saIDToken(t, other, DefaultServiceAccount, "aud", time.Now())
	tamperedIDT := idt[:strings.LastIndex(idt, ".")] + ".AAAA"
	clock.Advance(time.Hour) // both tokens expire exactly now

	for _, q := range []string{
		"access_token=ya29.nope",
		"access_token=" + url.QueryEscape(accessTok),
		"id_token=" + idt,
		"id_token=" + foreignIDT,
		"id_token=" + tamperedIDT,
		"id_token=garbage",
		"",
	} {
		for _, path := range []string{"/tokeninfo", "/oauth2/v3/tokeninfo", "/oauth2/v2/tokeninfo"} {
			name := path + "?" + q
			if len(name) > 60 {
				name = name[:60]
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				wantOAuthError(t, get(t, f.URL+path+"?"+q, nil), 400, "invalid_token", "Invalid Value")
			})
		}
	}
}

func TestTokeninfoV2(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	tok := saAccessToken(t, f, DefaultServiceAccount, "email", clock.Now())
	clock.Advance(21 * time.Second)
	want := map[string]any{
		"issued_to": sa.UniqueID, "audience": sa.UniqueID, "user_id": sa.UniqueID,
		"scope": "https://www.googleapis.com/auth/userinfo.email", "expires_in": float64(3578),
		"email": DefaultServiceAccount, "verified_email": true, "access_type": "online",
	}
	// The legacy v1 (www.googleapis.com/oauth2/v1/tokeninfo) has v2's shape.
	for _, path := range []string{"/oauth2/v2/tokeninfo", "/oauth2/v1/tokeninfo"} {
		m := get(t, f.URL+path+"?access_token="+url.QueryEscape(tok), nil).json(t)
		if !maps.Equal(m, want) {
			t.Errorf("%s = %v; want %v", path, m, want)
		}
	}
	wantOAuthError(t, get(t, f.URL+"/oauth2/v1/tokeninfo?access_token=ya29.nope", nil), http.StatusBadRequest, "invalid_token", "Invalid Value")
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	issue := func(t *testing.T) (rt, at string) {
		rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid", "email"})
		if err != nil {
			t.Fatal(err)
		}
		r := refresh(t, f, DefaultClientID, DefaultClientSecret, rt)
		if r.status != http.StatusOK {
			t.Fatalf("refresh: status %d, body %s", r.status, r.body)
		}
		return rt, r.json(t)["access_token"].(string)
	}
	accessValid := func(t *testing.T, at string) bool {
		return get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(at), nil).status == http.StatusOK
	}

	t.Run("revoke refresh token by POST query", func(t *testing.T) {
		t.Parallel()
		rt, at := issue(t)
		r := postForm(t, f.URL+"/revoke?token="+url.QueryEscape(rt), nil, nil)
		if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "{}" {
			t.Fatalf("revoke: status %d body %q; want 200 {}", r.status, r.body)
		}
		wantOAuthError(t, refresh(t, f, DefaultClientID, DefaultClientSecret, rt), 400, "invalid_grant", descRefreshRevoked)
		if accessValid(t, at) {
			t.Errorf("access token from a revoked grant still passes tokeninfo")
		}
	})
	t.Run("revoke access token by GET revokes its grant", func(t *testing.T) {
		t.Parallel()
		rt, at := issue(t)
		if r := get(t, f.URL+"/revoke?token="+url.QueryEscape(at), nil); r.status != http.StatusOK {
			t.Fatalf("revoke: status %d body %s", r.status, r.body)
		}
		if accessValid(t, at) {
			t.Errorf("revoked access token still passes tokeninfo")
		}
		wantOAuthError(t, refresh(t, f, DefaultClientID, DefaultClientSecret, rt), 400, "invalid_grant", descRefreshRevoked)
	})
	t.Run("revoke service-account access token by form", func(t *testing.T) {
		t.Parallel()
		at := saAccessToken(t, f, DefaultServiceAccount, "email", time.Now())
		if r := postForm(t, f.URL+"/revoke", url.Values{"token": {at}}, nil); r.status != http.StatusOK {
			t.Fatalf("revoke: status %d body %s", r.status, r.body)
		}
		if accessValid(t, at) {
			t.Errorf("revoked access token still passes tokeninfo")
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		t.Parallel()
		wantOAuthError(t, postForm(t, f.URL+"/revoke?token=nope", nil, nil), 400, "invalid_token", "Token expired or revoked")
	})
}
