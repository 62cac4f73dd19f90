package credentials

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkServiceAccountAccessToken measures one uncached access token from
// a service-account key: signing the RS256 assertion plus the token request.
// The "request only" peer posts a pre-built assertion to the same loopback
// server, so the difference is the cost of building and signing it.
func BenchmarkServiceAccountAccessToken(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"ya29.bench","expires_in":3599,"token_type":"Bearer"}`)
	}))
	defer srv.Close()
	der, err := x509.MarshalPKCS8PrivateKey(testKeys())
	if err != nil {
		b.Fatal(err)
	}
	key, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"client_email":   testEmail,
		"private_key_id": testKeyID,
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri":      srv.URL + "/token",
	})
	ctx := context.Background()

	b.Run("load key file", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := FromJSON(key, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sign and request", func(b *testing.B) {
		creds, err := FromJSON(key, &Options{HTTPClient: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		tp, err := creds.AccessTokenSource([]string{"https://www.googleapis.com/auth/cloud-platform"})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tp.Token(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request only (peer)", func(b *testing.B) {
		form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {strings.Repeat("a", 700)}}.Encode()
		client := srv.Client()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := client.Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(form))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
