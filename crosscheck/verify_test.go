package crosscheck_test

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/idtoken"
)

// TestIDTokenVerifier checks gcptoken's own verifier (package idtoken)
// against Google's libraries from both sides: tokens minted by Google's Go
// and Python libraries must pass it, and a set of bad tokens must be
// rejected by it and by Python google-auth's verify_token alike, so neither
// verifier is judged only by tokens of our own making.
func TestIDTokenVerifier(t *testing.T) {
	ctx := goLibContext(t)
	f := newFixture(t)
	v := jwksVerifier(t, f.fake, f.sampleURL)

	t.Run("go_cloud_auth_2lo", func(t *testing.T) {
		tok := mint2LO(t, f, f.sampleURL)
		c, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("Verify of a token minted by cloud.google.com/go/auth: %v", err)
		}
		checkVerifiedClaims(t, f, "cloud.google.com/go/auth 2LO token", c)
	})

	t.Run("python_google_auth", func(t *testing.T) {
		p := requirePeer(t, pythonPeer())
		out := decode[struct {
			IDToken      string `json:"id_token"`
			FetchIDToken string `json:"fetch_id_token"`
		}](t, runPython(t, f, p, "sa_id_token.py",
			map[string]any{"key_file": f.keyFile, "audience": f.sampleURL, "tokeninfo_url": f.fake.URL + "/oauth2/v3/tokeninfo"},
			"GOOGLE_APPLICATION_CREDENTIALS="+f.keyFile))
		for what, tok := range map[string]string{"IDTokenCredentials": out.IDToken, "fetch_id_token": out.FetchIDToken} {
			c, err := v.Verify(ctx, tok)
			if err != nil {
				t.Errorf("Verify of the %s token minted by google-auth: %v", what, err)
				continue
			}
			checkVerifiedClaims(t, f, "google-auth "+what+" token", c)
		}
	})

	t.Run("bad_tokens_rejected_by_both", func(t *testing.T) {
		p := requirePeer(t, pythonPeer())
		cases := badTokens(t, f)
		var input struct {
			Tokens []map[string]string `json:"tokens"`
		}
		for _, c := range cases {
			input.Tokens = append(input.Tokens, map[string]string{
				"name": c.name, "id_token": c.token, "audience": c.audience, "certs_url": c.fake.URL + "/oauth2/v1/certs"})
		}
		out := decode[struct {
			Results map[string]struct {
				Accepted bool
				Error    string
			}
		}](t, runPython(t, f, p, "verify_reject.py", input))

		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := jwksVerifier(t, c.fake, c.audience).Verify(ctx, c.token)
				if got := idtoken.ReasonOf(err); got != c.wantReason {
					t.Errorf("gcptoken: reason %q (%v); want %q", got, err, c.wantReason)
				}
				py, ok := out.Results[c.name]
				switch {
				case !ok:
					t.Errorf("python: no result")
				case c.wantReason == "" && !py.Accepted:
					t.Errorf("python rejected the control token: %s", py.Error)
				case c.wantReason != "" && py.Accepted:
					t.Errorf("python google-auth accepted it; gcptoken said %v", err)
				case !strings.Contains(py.Error, c.wantPython):
					t.Errorf("python: %q; want it to mention %q", py.Error, c.wantPython)
				default:
					t.Logf("gcptoken: %v; python: %s", err, py.Error)
				}
			})
		}
	})
}

// jwksVerifier verifies ID tokens for aud against fake's JWKS, over HTTP
// like a real service.
func jwksVerifier(t *testing.T, fake *fakegoogle.Running, aud string) *idtoken.Verifier {
	t.Helper()
	ks, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: fake.URL + "/oauth2/v3/certs"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := idtoken.NewVerifier(&idtoken.Options{Audiences: []string{aud}, KeySet: ks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkVerifiedClaims(t *testing.T, f *fixture, what string, c *idtoken.Claims) {
	t.Helper()
	if c.Issuer != googleIssuer || !c.HasAudience(f.sampleURL) || c.Email != f.sa.Email || !c.EmailVerified || c.Subject != f.sa.UniqueID {
		t.Errorf("%s: verified claims = iss %q aud %q email %q (verified %v) sub %q; want %q, %q, %q (true), %q",
			what, c.Issuer, c.Audience, c.Email, c.EmailVerified, c.Subject, googleIssuer, f.sampleURL, f.sa.Email, f.sa.UniqueID)
	}
	checkExpiry(t, what, c.Expiry)
}

// saKey is the test's own view of a service-account key file.
type saKey struct {
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

func keyOf(t *testing.T, fake *fakegoogle.Running) saKey {
	t.Helper()
	raw, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	var k saKey
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// mint2LO gets an ID token for aud with cloud.google.com/go/auth's
// two-legged OAuth provider (UseIDToken), as its idtoken package does.
func mint2LO(t *testing.T, f *fixture, aud string) string {
	t.Helper()
	k := keyOf(t, f.fake)
	tp, err := auth.New2LOTokenProvider(&auth.Options2LO{
		Email: k.ClientEmail, PrivateKey: []byte(k.PrivateKey), PrivateKeyID: k.PrivateKeyID,
		TokenURL: k.TokenURI, UseIDToken: true, PrivateClaims: map[string]any{"target_audience": aud},
	})
	if err != nil {
		t.Fatalf("New2LOTokenProvider: %v", err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatalf("2LO ID token: %v", err)
	}
	return tok.Value
}

type badToken struct {
	name       string
	token      string
	audience   string
	fake       *fakegoogle.Running // whose keys judge it
	wantReason string              // gcptoken's; "" = accepted (control)
	wantPython string              // substring of google-auth's error
}

func badTokens(t *testing.T, f *fixture) []badToken {
	good := mint2LO(t, f, f.sampleURL)
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding

	// Tampered: the caller's email changed, the signature kept.
	claims := map[string]any{}
	payload, _ := b64.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["email"] = "attacker@example.com"
	forged, _ := json.Marshal(claims)
	tampered := parts[0] + "." + b64.EncodeToString(forged) + "." + parts[2]

	// Expired: only a fake can sign, so a fake whose clock is two hours
	// behind mints a token that expired an hour ago.
	past, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{
		Logger: fakeLogger(t), Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { past.Close() })
	expired := mintAt(t, past, time.Now().Add(-2*time.Hour), past.SampleServiceURL())

	// Signed by another fake: a kid the first fake never published.
	other, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{Logger: fakeLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	foreign := mintAt(t, other, time.Now(), f.sampleURL)

	// Algorithm confusion: HS256 keyed with the published certificate.
	var header struct{ Kid string }
	hb, _ := b64.DecodeString(parts[0])
	json.Unmarshal(hb, &header)
	hsHeader := b64.EncodeToString([]byte(`{"alg":"HS256","kid":"` + header.Kid + `","typ":"JWT"}`))
	mac := hmac.New(sha256.New, []byte(pemCert(t, f.fake, header.Kid)))
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs256 := hsHeader + "." + parts[1] + "." + b64.EncodeToString(mac.Sum(nil))

	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","kid":"` + header.Kid + `"}`))
	none := noneHeader + "." + parts[1] + "."

	return []badToken{
		{"control", good, f.sampleURL, f.fake, "", ""},
		{"wrong_audience", mint2LO(t, f, "https://other.example"), f.sampleURL, f.fake, idtoken.ReasonAudience, "wrong audience"},
		{"expired", expired, past.SampleServiceURL(), past, idtoken.ReasonExpired, "Token expired"},
		{"tampered", tampered, f.sampleURL, f.fake, idtoken.ReasonSignature, "Could not verify token signature"},
		{"foreign_key", foreign, f.sampleURL, f.fake, idtoken.ReasonUnknownKey, "not found"},
		{"hs256_with_certificate", hs256, f.sampleURL, f.fake, idtoken.ReasonAlgorithm, "Unsupported signature algorithm HS256"},
		{"alg_none", none, f.sampleURL, f.fake, idtoken.ReasonAlgorithm, "none"},
	}
}

// mintAt asks fake for an ID token with a jwt-bearer assertion issued at
// iat, signed with the fake's default service-account key: the fake checks
// assertions against its own clock, which may be in the past.
func mintAt(t *testing.T, fake *fakegoogle.Running, iat time.Time, aud string) string {
	t.Helper()
	k := keyOf(t, fake)
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		t.Fatal("key file has no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return b64.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": k.PrivateKeyID}) + "." + enc(map[string]any{
		"iss": k.ClientEmail, "aud": k.TokenURI, "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix(), "target_audience": aud})
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, parsed.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {input + "." + b64.EncodeToString(sig)}}
	resp, err := http.PostForm(k.TokenURI, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		IDToken string `json:"id_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != 200 || body.IDToken == "" {
		t.Fatalf("mint ID token at %v: HTTP %d: %s", iat, resp.StatusCode, raw)
	}
	return body.IDToken
}

// pemCert returns the certificate the fake publishes for kid at
// /oauth2/v1/certs, which an algorithm-confusion attacker would use as the
// HMAC secret.
func pemCert(t *testing.T, fake *fakegoogle.Running, kid string) string {
	t.Helper()
	resp, err := http.Get(fake.URL + "/oauth2/v1/certs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m[kid] == "" {
		t.Fatalf("certs: %v, no %s in %v", err, kid, m)
	}
	return m[kid]
}
