package fakegoogle

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSecurityDeviceCodeCrossSiteApproval: a web page the user visits
// starts a device flow of its own and posts its user code, with "allow",
// to the fake's verification page from the user's browser, to get tokens
// for the user's account. The page must not approve anything without the
// one-time nonce of a confirmation page the user saw.
func TestSecurityDeviceCodeCrossSiteApproval(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	r := postForm(t, f.URL+"/device/code", url.Values{"client_id": {DefaultClientID}, "scope": {"email"}}, nil)
	if r.status != http.StatusOK {
		t.Fatalf("device/code: %d %s", r.status, r.body)
	}
	dc := r.json(t)
	userCode, deviceCode := dc["user_code"].(string), dc["device_code"].(string)
	for _, form := range []url.Values{
		{"user_code": {userCode}, "decision": {"allow"}, "account": {DefaultUser}},
		{"user_code": {userCode}, "nonce": {"guessed"}, "decision": {"allow"}, "account": {DefaultUser}},
	} {
		postForm(t, f.URL+"/device", form, http.Header{"Origin": {"https://evil.example"}})
	}
	poll := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantDeviceCode}, "device_code": {deviceCode},
		"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}, nil)
	wantOAuthError(t, poll, http.StatusPreconditionRequired, "authorization_pending", "")
}
