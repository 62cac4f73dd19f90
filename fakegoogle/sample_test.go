package fakegoogle

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
		{"bad start", "?start=x&end=5", bearer(good), 400, `query parameter start="x" is not an integer`},
		{"start after end", "?start=6&end=5", bearer(good), 400, "start <= end"},
		{"missing end: the default", "?start=9", bearer(good), 200, `"range": [`},
		{"no parameters: the defaults", "", bearer(good), 200, `"range": [`},
		{"huge range", "?start=0&end=100000000", bearer(good), 400, "at most 10000 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := get(t, f.SampleServiceURL()+tt.query, tt.header)
			if r.status != tt.wantStatus {
				t.Errorf("status = %d; want %d (body %s)", r.status, tt.wantStatus, r.body)
			}
			if got := sampleText(t, r); !strings.Contains(got, tt.wantBody) {
				t.Errorf("body = %q; want it to contain %q", got, tt.wantBody)
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

// sampleText is the sample service's answer as text: the error and what
// the service expects for a refusal (every refusal says both), the JSON
// body otherwise.
func sampleText(t *testing.T, r response) string {
	t.Helper()
	if r.status == http.StatusOK {
		return string(r.body)
	}
	var e struct{ Error, Expects string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || !strings.Contains(e.Expects, "POST a JSON object") {
		t.Fatalf("refusal %d is not JSON with error and expects: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	return e.Error
}

// TestSampleServiceBodies: the sample service takes its parameters as the
// Cloud Function of Google's samples does, from a POSTed JSON object (the
// empty one gives the defaults), a form, or the query.
func TestSampleServiceBodies(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	tok := saIDToken(t, f, DefaultServiceAccount, f.SampleServiceURL(), time.Now())
	tests := []struct {
		name, query, contentType, body string
		wantStatus                     int
		want                           string // the range, or a part of the error
	}{
		{"requests.post(url, json={})", "", "application/json", "{}", 200, "[1 2 3 4 5 6 7 8 9 10]"},
		{"JSON parameters", "", "application/json", `{"start": 3, "end": 5}`, 200, "[3 4 5]"},
		{"JSON strings of digits", "", "application/json", `{"start": "3", "end": "4"}`, 200, "[3 4]"},
		{"JSON without Content-Type", "", "", `{"end": 2}`, 200, "[1 2]"},
		{"body over query", "?start=1&end=9", "application/json", `{"end": 2}`, 200, "[1 2]"},
		{"form body", "", "application/x-www-form-urlencoded", "start=7&end=8", 200, "[7 8]"},
		{"empty body, query", "?start=2&end=3", "application/json", "", 200, "[2 3]"},
		{"JSON not an object", "", "application/json", `[1, 2]`, 400, "not a JSON object"},
		{"JSON bad number", "", "application/json", `{"start": 1.5}`, 400, `JSON field "start" is not an integer`},
		{"JSON bad type", "", "application/json", `{"end": true}`, 400, `JSON field "end" is not an integer`},
		{"start after end", "", "application/json", `{"start": 5, "end": 4}`, 400, "start <= end"},
		{"unknown body type", "", "text/plain", "hello", 400, "send JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, f.SampleServiceURL()+tt.query, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			r := do(t, req)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d; want %d (body %s)", r.status, tt.wantStatus, r.body)
			}
			if r.status != http.StatusOK {
				if got := sampleText(t, r); !strings.Contains(got, tt.want) {
					t.Errorf("error = %q; want it to contain %q", got, tt.want)
				}
				return
			}
			var got struct {
				Range  []int
				Caller string
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if fmt.Sprint(got.Range) != tt.want || got.Caller != DefaultServiceAccount {
				t.Errorf("range %v, caller %q; want %s, %q", got.Range, got.Caller, tt.want, DefaultServiceAccount)
			}
		})
	}
}
