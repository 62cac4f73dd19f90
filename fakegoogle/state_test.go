package fakegoogle

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	old := newFake(t, nil)
	const email = "extra@other-project.iam.gserviceaccount.com"
	if _, err := old.AddServiceAccount(email); err != nil {
		t.Fatal(err)
	}
	if err := old.DisableServiceAccount(email); err != nil {
		t.Fatal(err)
	}
	oldKey, _ := old.ServiceAccountKeyJSON(DefaultServiceAccount)
	rt, err := old.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid", "email"})
	if err != nil {
		t.Fatal(err)
	}
	oldSA, _ := old.ServiceAccount(DefaultServiceAccount)
	oldUser := old.AddUser(DefaultUser)
	state, err := old.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := old.MarshalState(); string(again) != string(state) {
		t.Errorf("MarshalState is not deterministic")
	}

	f := newFake(t, nil)
	if err := f.LoadState(state); err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	newSA, ok := f.ServiceAccount(DefaultServiceAccount)
	if !ok || *newSA != *oldSA {
		t.Errorf("service account after load = %+v; want %+v", newSA, oldSA)
	}
	if sa, _ := f.ServiceAccount(email); sa == nil || !sa.Disabled || sa.ProjectID != "other-project" {
		t.Errorf("extra service account after load = %+v; want disabled, project other-project", sa)
	}
	if u := f.AddUser(DefaultUser); *u != *oldUser {
		t.Errorf("user after load = %+v; want %+v", u, oldUser)
	}
	newKey, _ := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if got, want := strings.ReplaceAll(string(newKey), f.URL, old.URL), string(oldKey); got != want {
		t.Errorf("key file after load differs (beyond the base URL):\n%s\nwant\n%s", got, want)
	}
	// The old key file still gets tokens from the new server. Its token_uri
	// names the old server's port, so the assertion uses Google's aud, as
	// Python and Node do.
	var kf keyFile
	if err := json.Unmarshal(oldKey, &kf); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(kf.PrivateKey))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	a := signJWS(t, priv.(*rsa.PrivateKey), map[string]string{"alg": "RS256", "kid": kf.PrivateKeyID, "typ": "JWT"},
		assertionClaimsFor(DefaultServiceAccount, "https://oauth2.googleapis.com/token", time.Now()))
	if r := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil); r.status != http.StatusOK {
		t.Errorf("token with the old key file: status %d body %s", r.status, r.body)
	}
	if r := refresh(t, f, DefaultClientID, DefaultClientSecret, rt); r.status != http.StatusOK {
		t.Errorf("refresh with old token: status %d body %s", r.status, r.body)
	}
	if got := get(t, f.URL+"/oauth2/v1/certs", nil).body; len(parsePEMCerts(t, response{body: got})) != 2 {
		t.Errorf("signing certs after load: %s", got)
	}
	// Same signing keys: a token from the old server verifies at the new one.
	idt := saIDToken(t, old, DefaultServiceAccount, f.SampleServiceURL(), time.Now())
	if r := get(t, f.SampleServiceURL()+"?start=1&end=1", http.Header{"Authorization": {"Bearer " + idt}}); r.status != http.StatusOK {
		t.Errorf("old server's ID token at new server: status %d body %s", r.status, r.body)
	}
}

func TestLoadStateRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	before, err := f.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, data string }{
		{"not JSON", "nope"},
		{"wrong version", `{"version":99}`},
		{"no signing keys", `{"version":1,"signing_keys":[]}`},
		{"bad key", `{"version":1,"signing_keys":[{"key_id":"a","private_key":"x"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := f.LoadState([]byte(tt.data)); err == nil {
				t.Errorf("LoadState(%q) = nil; want an error", tt.data)
			}
		})
	}
	if after, _ := f.MarshalState(); string(after) != string(before) {
		t.Errorf("state changed after failed loads")
	}
}
