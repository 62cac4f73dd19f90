package console

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testJWT is an unsigned-looking but decodable JWT (the signature is
// random bytes).
const testJWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0" +
	".eyJpc3MiOiJzYUBwLmlhbS5nc2VydmljZWFjY291bnQuY29tIiwiYXVkIjoiaHR0cHM6Ly9vYXV0aDIuZ29vZ2xlYXBpcy5jb20vdG9rZW4iLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMH0" +
	".c2lnbmF0dXJlLWJ5dGVzLXRoYXQtYXJlLW5vdC1yZWFsbHktYS1zaWduYXR1cmU"

func newTestMasker() *masker {
	return &masker{jwts: map[string]*jwtView{}, decode: func(where, tok string) *jwtView {
		return decodeJWT(where, tok, atRequest(time.Unix(1700000100, 0)), func(string) (string, bool) { return "test key", true })
	}}
}

// TestMasking checks that each kind of secret is masked where it is found,
// and that what is not secret is shown as it is.
func TestMasking(t *testing.T) {
	t.Parallel()
	awsSubject := url.QueryEscape(`{"url":"https://sts.amazonaws.com?Action=GetCallerIdentity","method":"POST","headers":[` +
		`{"key":"Authorization","value":"AWS4-HMAC-SHA256 Credential=AKIAFAKE/20240101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef"},` +
		`{"key":"x-amz-security-token","value":"FQoGZXIvYXdzEXAMPLESESSIONTOKEN"}]}`)
	tests := []struct {
		name, kind, key, value string
		hidden                 []string // must not be shown
		shown                  []string // must be shown
	}{
		{"access token", "field", "access_token", "ya29.c.abcdefghijklmnopqrstuvwxyz0123456789", []string{"abcdefghijklmnop"}, []string{"ya29.c.…[secret: 43 characters"}},
		{"refresh token", "field", "refresh_token", "1//fake-abcdefghijklmnopqrstuvwxyz", []string{"abcdefghijklmnop"}, []string{"1//fake-…"}},
		{"client secret", "field", "client_secret", "fakegoogle-client-secret", []string{"client-secret"}, []string{"[secret: 24 characters"}},
		{"assertion", "field", "assertion", testJWT, []string{"c2lnbmF0dXJl", testJWT}, []string{"JWT #1"}},
		{"named like a secret", "field", "aws_secret_access_key", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", []string{"wJalrXUtnFEMI"}, []string{"[secret: 38 characters"}},
		{"token type is no secret", "field", "subject_token_type", "urn:ietf:params:oauth:token-type:jwt", nil, []string{"urn:ietf:params:oauth:token-type:jwt"}},
		{"not secret", "field", "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", nil, []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}},
		{"token in free text", "field", "note", "got ya29.c.abcdefghijklmnopqrstuvwxyz here", []string{"abcdefghijklmnop"}, []string{"got ya29.c.…", "here"}},
		{"private key", "field", "note", "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-----END PRIVATE KEY-----", []string{"MIIEvQIBADAN"}, []string{"[secret:"}},
		{"bearer", "header", "Authorization", "Bearer ya29.c.abcdefghijklmnopqrstuvwxyz", []string{"abcdefghijklmnop"}, []string{"Bearer ya29.c.…"}},
		{"bearer JWT", "header", "Authorization", "Bearer " + testJWT, []string{"c2lnbmF0dXJl"}, []string{"Bearer JWT #1"}},
		{"basic", "header", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("my-client:s3cr3t-value")), []string{"s3cr3t"},
			[]string{"client id my-client", "client secret [secret: 12 characters"}},
		{"sigv4", "header", "Authorization", "AWS4-HMAC-SHA256 Credential=AKIAFAKE/x, SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef",
			[]string{"0123456789abcdef"}, []string{"Credential=AKIAFAKE/x", "Signature=[secret: 32 characters"}},
		{"redirect with a code", "header", "Location", "http://127.0.0.1:5000/cb?code=4/0AbCdEfGhIjKlMnOp&state=xyz", []string{"AbCdEfGhIjKl"}, []string{"state=xyz", "code=4/…"}},
		{"IAP assertion", "header", "X-Goog-Iap-Jwt-Assertion", testJWT, []string{"c2lnbmF0dXJl"}, []string{"JWT #1"}},
		{"AWS subject token", "field", "subject_token", awsSubject, []string{"0123456789abcdef", "EXAMPLESESSIONTOKEN"},
			[]string{"AWS signed request", "Credential=AKIAFAKE", "GetCallerIdentity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMasker()
			var got string
			if tt.kind == "header" {
				got = m.header("request header", tt.key, tt.value)
			} else {
				got = m.field("request form", tt.key, tt.value)
			}
			for _, h := range tt.hidden {
				if strings.Contains(got, h) {
					t.Errorf("got %q; it shows %q", got, h)
				}
			}
			for _, s := range tt.shown {
				if !strings.Contains(got, s) {
					t.Errorf("got %q; want %q in it", got, s)
				}
			}
		})
	}
}

// TestMaskingJSON checks an answer's JSON: tokens masked, JWTs decoded
// once however often they appear, numbers and names kept.
func TestMaskingJSON(t *testing.T) {
	t.Parallel()
	m := newTestMasker()
	got := prettyJSON(m.json("response body", map[string]any{
		"access_token": "ya29.c.abcdefghijklmnopqrstuvwxyz", "id_token": testJWT, "token": testJWT,
		"expires_in": 3599, "error": map[string]any{"code": 403, "status": "PERMISSION_DENIED"},
	}))
	for _, hidden := range []string{"abcdefghijklmnop", "c2lnbmF0dXJl"} {
		if strings.Contains(got, hidden) {
			t.Errorf("the masked JSON shows %q:\n%s", hidden, got)
		}
	}
	for _, shown := range []string{`"expires_in": 3599`, `"code": 403`, "PERMISSION_DENIED", "JWT #1"} {
		if !strings.Contains(got, shown) {
			t.Errorf("the masked JSON lacks %q:\n%s", shown, got)
		}
	}
	if len(m.order) != 1 {
		t.Fatalf("decoded %d JWTs; want the one, once", len(m.order))
	}
	v := m.order[0]
	if v.Role != "ID token" || !strings.Contains(v.Claims, `"iss": "sa@p.iam.gserviceaccount.com"`) || v.Fingerprint != fingerprint(testJWT) {
		t.Errorf("got JWT view %+v", v)
	}
}

// TestJWTChecks checks the findings about a JWT's times, as of the
// request.
func TestJWTChecks(t *testing.T) {
	t.Parallel()
	signer := func(string) (string, bool) { return "no key of the fake verifies it", false }
	tests := []struct {
		name   string
		at     int64
		pasted bool // judged as of now, not of a request
		want   []string
	}{
		{"valid", 1700000100, false, []string{"fail Signature not verified", "pass Not expired at the request: it had 58 minutes left", "pass Issued 1 minute before the request"}},
		{"expired", 1700003700, false, []string{"fail Expired 1 minute before the request"}},
		{"issued ahead", 1699990000, false, []string{"fail Issued 2 hours after the request by the fake's clock"}},
		{"pasted, expired", 1700003700, true, []string{"fail Expired 1 minute ago", "pass Issued 1 hour ago"}},
		{"pasted, valid", 1700000000, true, []string{"pass Not expired: 1 hour left", "pass Issued just now"}},
	}
	for _, tt := range tests {
		ref := atRequest(time.Unix(tt.at, 0))
		if tt.pasted {
			ref = atNow(time.Unix(tt.at, 0))
		}
		v := decodeJWT("request form assertion", testJWT, ref, signer)
		var got []string
		for _, c := range v.Checks {
			got = append(got, c.State+" "+c.Text)
		}
		for _, w := range tt.want {
			if !strings.Contains(strings.Join(got, "\n"), w) {
				t.Errorf("%s: got checks %q; want %q", tt.name, got, w)
			}
		}
	}
}
