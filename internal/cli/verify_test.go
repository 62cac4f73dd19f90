package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// idTokenFor mints an ID token for aud from the shared fake.
func idTokenFor(t *testing.T, f *fakegoogle.Running, e env, aud string) string {
	t.Helper()
	r := run(t, e, "", "print-identity-token", "--credentials", saKeyFile(t, f), "--audience", aud, "--no-cache")
	wantCode(t, r, 0)
	return strings.TrimSpace(r.stdout)
}

// runAt runs gcptoken with the clock set to now.
func runAt(t *testing.T, e env, now time.Time, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := &App{Out: &out, Err: &errb, Getenv: func(k string) string { return e[k] }, Now: func() time.Time { return now }}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := Run(ctx, app, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	aud := f.SampleServiceURL()
	certs := f.URL + "/oauth2/v3/certs"
	tok := idTokenFor(t, f, e, aud)
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	// Another base64url character: the signature changes, the encoding
	// stays valid.
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	withCerts := env{"HOME": e["HOME"], "GCPTOKEN_CACHE_DIR": e["GCPTOKEN_CACHE_DIR"], envCertsURL: certs}

	tests := []struct {
		name      string
		env       env
		stdin     string
		args      []string
		wantCode  int
		fragments []string // stdout on success, the error line otherwise
	}{
		{"valid", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", certs}, 0,
			[]string{"Verified: ID token for " + aud + " from " + fakegoogle.DefaultServiceAccount, "issuer:", "https://accounts.google.com", "(verified)", "keys:", certs}},
		{"stdin and env certs URL", withCerts, "Authorization: Bearer " + tok + "\n", []string{"verify", "-", "--audience", aud}, 0, []string{"Verified:"}},
		{"one of several audiences", e, "", []string{"verify", tok, "--audience", "https://other.example", "--audience", aud, "--certs-url", certs}, 0, []string{"Verified:"}},
		{"no audience check", e, "", []string{"verify", tok, "--no-audience-check", "--certs-url", certs}, 0, []string{"Verified:"}},
		{"allowed email, other case", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", certs, "--allowed-email", strings.ToUpper(fakegoogle.DefaultServiceAccount)}, 0, []string{"Verified:"}},

		{"wrong audience", e, "", []string{"verify", tok, "--audience", "https://other.example", "--certs-url", certs}, ExitCredentials,
			[]string{`gcptoken: verify: token rejected: audience "` + aud + `" is not one of ["https://other.example"]`}},
		{"tampered", e, "", []string{"verify", tampered, "--audience", aud, "--certs-url", certs}, ExitCredentials,
			[]string{"verify: token rejected: signature does not verify with key"}},
		{"access token", e, "", []string{"verify", "ya29.a0AfB_byC-not-a-jwt", "--audience", aud, "--certs-url", certs}, ExitCredentials,
			[]string{"verify: this is a Google OAuth access token", "gcptoken info TOKEN"}},
		{"wrong issuer", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", certs, "--issuer", "https://issuer.example"}, ExitCredentials,
			[]string{`issuer "https://accounts.google.com" is not one of ["https://issuer.example"]`}},
		{"email not allowed", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", certs, "--allowed-email", "someone@example.com"}, ExitCredentials,
			[]string{`verify: token rejected: email "` + fakegoogle.DefaultServiceAccount + `" is not one of ["someone@example.com"]`}},
		{"iap wants ES256", e, "", []string{"verify", tok, "--iap", "--audience", aud, "--certs-url", certs}, ExitCredentials,
			[]string{`algorithm "RS256" is not allowed (want ES256)`}},
		{"another fake's keys", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", otherFakeCerts(t)}, ExitCredentials,
			[]string{"verify: token rejected: signing key", "is not in the key set at"}},

		{"certs endpoint down", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", closedPort(t) + "/certs"}, ExitUnavailable,
			[]string{"verify: cannot get the signing keys: fetch ID-token signing keys from http://127.0.0.1:"}},
		{"certs endpoint 404", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", f.URL + "/no/such/certs"}, ExitUnavailable,
			[]string{"cannot get the signing keys", "HTTP 404"}},
		{"certs endpoint not a JWKS", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", f.URL + "/oauth2/v1/certs"}, ExitUnavailable,
			[]string{"cannot get the signing keys", `no "keys" list`}},

		{"no audience", e, "", []string{"verify", tok, "--certs-url", certs}, ExitUsage, []string{"--audience is required"}},
		{"audience and no check", e, "", []string{"verify", tok, "--audience", aud, "--no-audience-check"}, ExitUsage, []string{"contradict"}},
		{"no token", e, "", []string{"verify", "--audience", aud}, ExitUsage, []string{"no token given"}},
		{"two words", e, "a b", []string{"verify", "--audience", aud}, ExitUsage, []string{"more than one word"}},
		{"bad format", e, "", []string{"verify", tok, "--audience", aud, "--format", "yaml"}, ExitUsage, []string{"--format"}},
		{"bad certs URL", e, "", []string{"verify", tok, "--audience", aud, "--certs-url", "certs.example"}, ExitUsage, []string{`"certs.example"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.env, tt.stdin, tt.args...)
			wantCode(t, r, tt.wantCode)
			if tt.wantCode == 0 {
				for _, f := range tt.fragments {
					if !strings.Contains(r.stdout, f) {
						t.Errorf("stdout lacks %q:\n%s", f, r.stdout)
					}
				}
				return
			}
			wantOneLineError(t, r, tt.fragments...)
			if strings.Contains(r.stderr, parts[2]) {
				t.Errorf("the error shows the token: %s", r.stderr)
			}
		})
	}
}

// otherFakeCerts is the JWKS URL of a second fake, whose keys did not sign
// the shared fake's tokens.
func otherFakeCerts(t *testing.T) string {
	return ownFake(t).URL + "/oauth2/v3/certs"
}

func TestVerifyJSON(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	aud := f.SampleServiceURL()
	r := run(t, e, "", "verify", idTokenFor(t, f, e, aud), "--audience", aud, "--certs-url", f.URL+"/oauth2/v3/certs", "--format", "json")
	wantCode(t, r, 0)
	var doc struct {
		Verified      bool
		Issuer        string
		Email         string
		EmailVerified bool `json:"email_verified"`
		Audience      []string
		ExpiresIn     int64 `json:"expires_in"`
		Claims        map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	if !doc.Verified || doc.Email != fakegoogle.DefaultServiceAccount || !doc.EmailVerified ||
		len(doc.Audience) != 1 || doc.Audience[0] != aud || doc.Issuer != "https://accounts.google.com" {
		t.Errorf("got %+v", doc)
	}
	if doc.ExpiresIn < 3000 || doc.ExpiresIn > 3600 || doc.Claims["aud"] != aud {
		t.Errorf("expires_in = %d, claims = %v", doc.ExpiresIn, doc.Claims)
	}
}

func TestVerifyExpired(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	aud := f.SampleServiceURL()
	tok := idTokenFor(t, f, e, aud)
	args := []string{"verify", tok, "--audience", aud, "--certs-url", f.URL + "/oauth2/v3/certs"}

	r := runAt(t, e, time.Now().Add(2*time.Hour), args...)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "verify: token rejected: the token expired at ", "ago")

	r = runAt(t, e, time.Now().Add(-time.Hour), args...)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "verify: token rejected: the token is issued at ", "in the future")
}

// refuseAll is a transport that records the URL asked for and fails.
type refuseAll struct{ asked chan string }

func (rt refuseAll) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.asked <- r.URL.String()
	return nil, errors.New("refused by the test")
}

func TestVerifyCertsURLDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  env
		args []string
		want string
	}{
		{"google", env{}, nil, "https://www.googleapis.com/oauth2/v3/certs"},
		{"env", env{envCertsURL: "http://127.0.0.1:9/certs"}, nil, "http://127.0.0.1:9/certs"},
		{"flag beats env", env{envCertsURL: "http://127.0.0.1:9/certs"}, []string{"--certs-url", "http://127.0.0.1:8/jwks"}, "http://127.0.0.1:8/jwks"},
		{"iap", env{}, []string{"--iap"}, "https://www.gstatic.com/iap/verify/public_key-jwk"},
		{"iap ignores env", env{envCertsURL: "http://127.0.0.1:9/certs"}, []string{"--iap"}, "https://www.gstatic.com/iap/verify/public_key-jwk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := refuseAll{asked: make(chan string, 1)}
			var errb bytes.Buffer
			app := &App{Err: &errb, Getenv: func(k string) string { return tt.env[k] }, HTTPClient: &http.Client{Transport: rt}}
			// A syntactically valid JWT with a kid, so verify needs the keys.
			tok := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.AAAA"
			if slices.Contains(tt.args, "--iap") {
				tok = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.e30.AAAA"
			}
			code := Run(t.Context(), app, append([]string{"verify", tok, "--audience", "x"}, tt.args...))
			if code != ExitUnavailable {
				t.Errorf("exit code %d; want %d (stderr %s)", code, ExitUnavailable, errb.String())
			}
			if got := <-rt.asked; got != tt.want {
				t.Errorf("fetched %s; want %s", got, tt.want)
			}
		})
	}
}
