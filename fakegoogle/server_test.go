package fakegoogle

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var digits21 = regexp.MustCompile(`^1[0-9]{20}$`)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"zero", Options{}, false},
		{"1024-bit keys", Options{RSAKeyBits: 1024}, false},
		{"512-bit keys", Options{RSAKeyBits: 512}, true},
		{"negative lifetime", Options{TokenLifetime: -time.Second}, true},
		{"tiny lifetime", Options{TokenLifetime: time.Second}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(&tt.opts)
			if (err != nil) != tt.wantErr {
				t.Errorf("New(%+v) error = %v; want error %v", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	sa, ok := s.ServiceAccount(DefaultServiceAccount)
	if !ok {
		t.Fatalf("default service account missing")
	}
	if sa.ProjectID != "fake-project" || !digits21.MatchString(sa.UniqueID) || !hex40.MatchString(sa.KeyID) || sa.Disabled {
		t.Errorf("default service account = %+v; want project fake-project, 21-digit id, 40-hex key id, enabled", sa)
	}
	if u := s.AddUser(DefaultUser); !digits21.MatchString(u.Subject) {
		t.Errorf("default user subject = %q; want 21 digits", u.Subject)
	}
	if _, err := s.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid"}); err != nil {
		t.Errorf("default client: %v", err)
	}
	// Without a base URL the fake must not write credential files: their
	// token_uri would send clients to the real Google.
	if _, err := s.ServiceAccountKeyJSON(DefaultServiceAccount); err == nil {
		t.Errorf("ServiceAccountKeyJSON without base URL succeeded; want an error")
	}
}

func TestStartAndKeyFile(t *testing.T) {
	t.Parallel()
	rs, err := Start("127.0.0.1:0", &Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if rs.BaseURL() != rs.URL || !strings.HasPrefix(rs.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, BaseURL() = %q; want equal http://127.0.0.1:port", rs.URL, rs.BaseURL())
	}
	raw, err := rs.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	var kf map[string]string
	if err := json.Unmarshal(raw, &kf); err != nil {
		t.Fatal(err)
	}
	sa, _ := rs.ServiceAccount(DefaultServiceAccount)
	want := map[string]string{
		"type":                        "service_account",
		"project_id":                  "fake-project",
		"private_key_id":              sa.KeyID,
		"client_email":                DefaultServiceAccount,
		"client_id":                   sa.UniqueID,
		"auth_uri":                    rs.URL + "/o/oauth2/auth",
		"token_uri":                   rs.URL + "/token",
		"auth_provider_x509_cert_url": rs.URL + "/oauth2/v1/certs",
		"client_x509_cert_url":        rs.URL + "/robot/v1/metadata/x509/demo-sa%40fake-project.iam.gserviceaccount.com",
		"universe_domain":             "googleapis.com",
	}
	for k, v := range want {
		if kf[k] != v {
			t.Errorf("key file %s = %q; want %q", k, kf[k], v)
		}
	}
	if !strings.HasPrefix(kf["private_key"], "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("private_key does not start with a PKCS#8 PEM header")
	}
	if len(kf) != len(want)+1 {
		t.Errorf("key file has %d fields; want %d", len(kf), len(want)+1)
	}
	tf := &testFake{Server: rs.Server, URL: rs.URL}
	if tok := saAccessToken(t, tf, DefaultServiceAccount, "email", time.Now()); tok == "" {
		t.Errorf("no token from a Start-ed server")
	}
	if err := rs.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := http.Get(rs.URL + "/oauth2/v3/certs"); err == nil {
		t.Errorf("server still answers after Close")
	}
}

// TestConcurrentRequests runs many token and tokeninfo requests at once, for
// the race detector, and checks RequestCount.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid", "email"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	// Parallel subtests rather than bare goroutines, so the helpers may call
	// t.Fatal; the group returns when all of them are done.
	t.Run("group", func(t *testing.T) {
		for i := range n {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				var tok string
				if i%2 == 0 {
					tok = saAccessToken(t, f, DefaultServiceAccount, "email", time.Now())
				} else {
					tok, _ = refresh(t, f, DefaultClientID, DefaultClientSecret, rt).json(t)["access_token"].(string)
				}
				if r := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil); r.status != http.StatusOK {
					t.Errorf("tokeninfo: status %d", r.status)
				}
				if _, err := f.AddServiceAccount("sa-" + strconv.Itoa(i) + "@p.iam.gserviceaccount.com"); err != nil {
					t.Error(err)
				}
			})
		}
	})
	if got := f.RequestCount("/token"); got != n {
		t.Errorf("RequestCount(/token) = %d; want %d", got, n)
	}
	if got := f.RequestCount("/tokeninfo"); got != n {
		t.Errorf("RequestCount(/tokeninfo) = %d; want %d", got, n)
	}
	if got := f.RequestCount("/never"); got != 0 {
		t.Errorf("RequestCount(/never) = %d; want 0", got)
	}
}

func TestRegistryErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if _, err := f.AddServiceAccount(DefaultServiceAccount); err == nil {
		t.Errorf("adding an existing service account succeeded")
	}
	if _, err := f.AddServiceAccount("no-at-sign"); err == nil {
		t.Errorf("adding a service account without @ succeeded")
	}
	if err := f.DisableServiceAccount("nobody@x"); err == nil {
		t.Errorf("disabling an unknown service account succeeded")
	}
	if _, err := f.IssueRefreshToken("unknown-client", DefaultUser, []string{"openid"}); err == nil {
		t.Errorf("refresh token for an unknown client succeeded")
	}
	if _, err := f.IssueRefreshToken(DefaultClientID, "stranger@example.com", []string{"openid"}); err == nil {
		t.Errorf("refresh token for an unknown user succeeded")
	}
	if _, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, nil); err == nil {
		t.Errorf("refresh token without scopes succeeded")
	}
	rt, _ := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid"})
	f.AddOAuthClient("other", "secret")
	if _, err := f.AuthorizedUserJSON("other", rt); err == nil {
		t.Errorf("authorized_user file for the wrong client succeeded")
	}
	if _, err := f.AuthorizedUserJSON(DefaultClientID, "1//fake-unknown"); err == nil {
		t.Errorf("authorized_user file for an unknown token succeeded")
	}
}
