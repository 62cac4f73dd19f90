package fakegoogle

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// verifyRS256 checks a compact JWS signature with pub, independently of the
// fake's JWT code.
func verifyRS256(tok string, pub *rsa.PublicKey) error {
	i := strings.LastIndex(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(tok[:i]))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

func TestSampleService(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	other := newFake(t, nil)
	if got, want := f.SampleServiceURL(), f.URL+"/sample/get_range"; got != want {
		t.Fatalf("SampleServiceURL() = %q; want %q", got, want)
	}
	good := saIDToken(t, f, DefaultServiceAccount, f.SampleServiceURL(), clock.Now())
	wrongAud := saIDToken(t, f, DefaultServiceAccount, "https://elsewhere.example.com", clock.Now())
	foreign := saIDToken(t, other, DefaultServiceAccount, f.SampleServiceURL(), time.Now())
	access := saAccessToken(t, f, DefaultServiceAccount, "email", clock.Now())

	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	tests := []struct {
		name       string
		query      string
		header     http.Header
		wantStatus int
		wantBody   string // substring
	}{
		{"valid", "?start=1&end=5", bearer(good), 200, `"range": [`},
		{"x-serverless-authorization", "?start=1&end=5", http.Header{"X-Serverless-Authorization": {"Bearer " + good}}, 200, `"caller": "` + DefaultServiceAccount + `"`},
		{"missing token", "?start=1&end=5", nil, 401, "missing token"},
		{"not bearer", "?start=1&end=5", http.Header{"Authorization": {"Basic abc"}}, 401, "malformed Authorization"},
		{"access token", "?start=1&end=5", bearer(access), 401, "not a JWT: this service needs an ID token, not an access token"},
		{"malformed JWT", "?start=1&end=5", bearer("eyJhbGciOiJSUzI1NiJ9.e30.AAAA"), 401, "invalid ID token: the header has no kid"},
		{"x-serverless-authorization wins", "?start=1&end=5", http.Header{"X-Serverless-Authorization": {"Bearer " + wrongAud}, "Authorization": {"Bearer " + good}}, 401, "wrong audience"},
		{"wrong audience", "?start=1&end=5", bearer(wrongAud), 401,
			`wrong audience: the ID token is for "https://elsewhere.example.com"; this service expects "` + f.SampleServiceURL() + `"`},
		{"bad signature", "?start=1&end=5", bearer(foreign), 401, "bad signature"},
		{"tampered", "?start=1&end=5", bearer(good[:len(good)-4] + "AAAA"), 401, "bad signature"},
		{"bad start", "?start=x&end=5", bearer(good), 400, "start and end"},
		{"start after end", "?start=6&end=5", bearer(good), 400, "start and end"},
		{"missing end", "?start=1", bearer(good), 400, "start and end"},
		{"huge range", "?start=0&end=100000000", bearer(good), 400, "start and end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := get(t, f.SampleServiceURL()+tt.query, tt.header)
			if r.status != tt.wantStatus {
				t.Errorf("status = %d; want %d (body %s)", r.status, tt.wantStatus, r.body)
			}
			if !strings.Contains(string(r.body), tt.wantBody) {
				t.Errorf("body = %q; want it to contain %q", r.body, tt.wantBody)
			}
			// RFC 6750 §3.1: a bare challenge when the request had no
			// bearer token, an invalid_token error otherwise.
			want := `Bearer error="invalid_token", error_description="`
			if tt.name == "missing token" || tt.name == "not bearer" {
				want = "Bearer"
			}
			if got := r.header.Get("WWW-Authenticate"); r.status == 401 && (!strings.HasPrefix(got, want) || want == "Bearer" && got != want) {
				t.Errorf("WWW-Authenticate = %q; want %q…", got, want)
			}
		})
	}

	t.Run("exact body", func(t *testing.T) {
		t.Parallel()
		m := get(t, f.SampleServiceURL()+"?start=1&end=5", bearer(good)).json(t)
		if got, want := m["caller"], DefaultServiceAccount; got != want {
			t.Errorf("caller = %q; want %q", got, want)
		}
		rng, _ := m["range"].([]any)
		if len(rng) != 5 || rng[0] != float64(1) || rng[4] != float64(5) {
			t.Errorf("range = %v; want [1 2 3 4 5]", m["range"])
		}
	})
}

func TestSampleServiceExpired(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	tok := saIDToken(t, f, DefaultServiceAccount, f.SampleServiceURL(), clock.Now())
	clock.Advance(time.Hour)
	r := get(t, f.SampleServiceURL()+"?start=1&end=2", http.Header{"Authorization": {"Bearer " + tok}})
	if r.status != http.StatusUnauthorized {
		t.Errorf("status = %d; want 401", r.status)
	}
	want := "ID token expired at " + clock.Now().Format(time.RFC3339)
	if !strings.Contains(string(r.body), want) {
		t.Errorf("body = %q; want it to contain %q", r.body, want)
	}
}
