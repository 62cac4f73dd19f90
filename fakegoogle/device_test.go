package fakegoogle

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// deviceCode asks /device/code for scope and returns the answer.
func deviceCode(t *testing.T, f *testFake, scope string) map[string]any {
	t.Helper()
	r := postForm(t, f.URL+"/device/code", url.Values{"client_id": {DefaultClientID}, "scope": {scope}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("device/code: %d %s", r.status, r.body)
	}
	return r.json(t)
}

func pollDevice(t *testing.T, f *testFake, code string) response {
	t.Helper()
	return postForm(t, f.URL+"/token", url.Values{"grant_type": {grantDeviceCode}, "device_code": {code},
		"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}, nil)
}

func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	dc := deviceCode(t, f, "openid email")
	if dc["verification_url"] != f.URL+"/device" || dc["expires_in"] != float64(1800) || dc["interval"] != float64(5) {
		t.Errorf("device/code = %v; want verification_url %s/device, expires_in 1800, interval 5", dc, f.URL)
	}
	if _, ok := dc["verification_uri"]; ok {
		t.Error("device/code has RFC 8628's verification_uri; Google sends only verification_url")
	}
	userCode, _ := dc["user_code"].(string)
	if !regexp.MustCompile(`^[A-Z]{4}-[A-Z]{4}$`).MatchString(userCode) {
		t.Errorf("user_code = %q; want ABCD-EFGH", userCode)
	}
	code, _ := dc["device_code"].(string)

	wantOAuthError(t, pollDevice(t, f, code), http.StatusPreconditionRequired, "authorization_pending", descPending)
	wantOAuthError(t, pollDevice(t, f, code), http.StatusForbidden, "slow_down", "")
	clock.Advance(5 * time.Second)
	if err := f.ApproveDeviceCode(strings.ToLower(strings.ReplaceAll(userCode, "-", " ")), DefaultUser); err != nil {
		t.Fatalf("ApproveDeviceCode with the code typed loosely: %v", err)
	}
	r := pollDevice(t, f, code)
	if r.status != http.StatusOK {
		t.Fatalf("poll after approval: %d %s", r.status, r.body)
	}
	tok := r.json(t)
	if tok["refresh_token"] == nil || tok["id_token"] == nil || tok["scope"] != "openid "+scopeEmail {
		t.Errorf("tokens = %v; want a refresh token, an ID token and scope openid + email", tok)
	}
	_, claims := decodeJWT(t, tok["id_token"].(string))
	if claims["email"] != DefaultUser || claims["aud"] != DefaultClientID {
		t.Errorf("ID token claims = %v; want the approving user for the client", claims)
	}
	if info := tokeninfo(t, f, tok["access_token"].(string)); info["email"] != DefaultUser {
		t.Errorf("tokeninfo = %v; want the user", info)
	}
	clock.Advance(5 * time.Second)
	wantOAuthError(t, pollDevice(t, f, code), http.StatusBadRequest, "invalid_grant", descBadDevice)
	if err := f.ApproveDeviceCode(userCode, DefaultUser); err == nil {
		t.Error("approving a spent code succeeded")
	}
}

func TestDeviceFlowDeniedAndExpired(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	denied := deviceCode(t, f, "profile")
	if err := f.DenyDeviceCode(denied["user_code"].(string)); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, pollDevice(t, f, denied["device_code"].(string)), http.StatusForbidden, "access_denied", "")
	expired := deviceCode(t, f, "profile")
	clock.Advance(31 * time.Minute)
	wantOAuthError(t, pollDevice(t, f, expired["device_code"].(string)), http.StatusBadRequest, "expired_token", "")
	if err := f.ApproveDeviceCode(expired["user_code"].(string), DefaultUser); err == nil {
		t.Error("approving an expired code succeeded")
	}
	if err := f.ApproveDeviceCode("ABCD-EFGH", DefaultUser); err == nil {
		t.Error("approving an unknown code succeeded")
	}
}

func TestDeviceCodeErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	for _, tt := range []struct {
		name       string
		form       url.Values
		status     int
		code, desc string
	}{
		{"no client", url.Values{"scope": {"email"}}, 400, "invalid_request", "Missing required parameter: client_id"},
		{"unknown client", url.Values{"client_id": {"nobody"}, "scope": {"email"}}, 401, "invalid_client", descClientNotFound},
		{"no scope", url.Values{"client_id": {DefaultClientID}}, 400, "invalid_request", "Missing required parameter: scope"},
		// Google's allow-list: cloud-platform is a real scope, but not for
		// devices.
		{"scope not allowed for devices", url.Values{"client_id": {DefaultClientID}, "scope": {"email " + scopeCloudPlatform}},
			400, "invalid_scope", "Invalid device flow scope: " + scopeCloudPlatform},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantOAuthError(t, postForm(t, f.URL+"/device/code", tt.form, nil), tt.status, tt.code, tt.desc)
		})
	}
	if r := get(t, f.URL+"/device/code", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /device/code: %d; want 405", r.status)
	}
}

// TestDevicePage approves a code the way a person does: enter it at
// verification_url, choose an account, allow.
func TestDevicePage(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	dc := deviceCode(t, f, "email")
	page := get(t, dc["verification_url"].(string), nil)
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `name="user_code"`) ||
		page.header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("GET /device: %d %q; want a code form that may not be framed", page.status, page.body)
	}
	// A post with a code and a decision but no nonce (what a page of
	// another site could send) only shows the confirmation page.
	forged := postForm(t, f.URL+"/device", url.Values{"user_code": {dc["user_code"].(string)}, "decision": {"allow"}, "account": {DefaultUser}}, nil)
	nonce := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindSubmatch(forged.body)
	if forged.status != http.StatusOK || nonce == nil || !strings.Contains(string(forged.body), DefaultClientID) {
		t.Fatalf("POST user_code: %d %s; want the confirmation page naming the client, with a nonce", forged.status, forged.body)
	}
	wantOAuthError(t, pollDevice(t, f, dc["device_code"].(string)), http.StatusPreconditionRequired, "authorization_pending", "")

	wrong := postForm(t, f.URL+"/device", url.Values{"user_code": {"ZZZZ-ZZZZ"}}, nil)
	if wrong.status != http.StatusBadRequest || !strings.Contains(string(wrong.body), "didn&#39;t work") {
		t.Errorf("unknown code: %d %s; want 400 saying so", wrong.status, wrong.body)
	}
	done := postForm(t, f.URL+"/device", url.Values{"nonce": {string(nonce[1])}, "decision": {"allow"}, "account": {DefaultUser}}, nil)
	if done.status != http.StatusOK || !strings.Contains(string(done.body), "Device connected") {
		t.Fatalf("allow: %d %s", done.status, done.body)
	}
	if again := postForm(t, f.URL+"/device", url.Values{"nonce": {string(nonce[1])}, "decision": {"deny"}}, nil); again.status != http.StatusBadRequest {
		t.Errorf("second answer to one page: %d; want 400", again.status)
	}
	clock.Advance(5 * time.Second)
	if r := pollDevice(t, f, dc["device_code"].(string)); r.status != http.StatusOK {
		t.Errorf("poll after approval on the page: %d %s", r.status, r.body)
	}
}

// TestDeviceFlowGoOAuth2 runs golang.org/x/oauth2's device flow
// (Config.DeviceAuth, DeviceAccessToken) against the fake.
func TestDeviceFlowGoOAuth2(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{DevicePollInterval: time.Second})
	cfg := oauth2.Config{ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: f.URL + "/device/code", TokenURL: f.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURI != f.URL+"/device" {
		t.Errorf("VerificationURI = %q; want %s/device (from Google's verification_url)", da.VerificationURI, f.URL)
	}
	go func() {
		time.Sleep(1500 * time.Millisecond) // let it poll and hear authorization_pending first
		f.ApproveDeviceCode(da.UserCode, DefaultUser)
	}()
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if tok.RefreshToken == "" || tok.Extra("id_token") == nil {
		t.Errorf("token = %+v; want a refresh token and an ID token", tok)
	}
	if got := f.RequestCount("/token"); got < 2 {
		t.Errorf("the fake saw %d polls; want at least 2 (pending, then the token)", got)
	}
}
