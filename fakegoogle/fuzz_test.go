package fakegoogle

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzTokenEndpoints posts arbitrary forms to the fake's token, tokeninfo
// and STS endpoints. The fake must never panic, and must never issue or
// vouch for a token for input it cannot have minted: forged assertions,
// refresh tokens and access tokens are all refused with a 4xx.
//
//	go test ./fakegoogle -run '^$' -fuzz FuzzTokenEndpoints -fuzztime 30s
func FuzzTokenEndpoints(f *testing.F) {
	s, err := New(&Options{RSAKeyBits: 1024})
	if err != nil {
		f.Fatal(err)
	}
	hdr := `eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9`
	for _, seed := range []struct{ path, body string }{
		{"/token", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + hdr + ".eyJpc3MiOiJhIn0.c2ln"},
		{"/token", "grant_type=refresh_token&refresh_token=1%2F%2Fx&client_id=" + url.QueryEscape(DefaultClientID) + "&client_secret=" + DefaultClientSecret},
		{"/token", "grant_type=jwt-bearer&assertion=...."},
		{"/tokeninfo", "access_token=ya29.c.forged"},
		{"/tokeninfo", "id_token=" + hdr + ".e30.c2ln"},
		{"/oauth2/v2/tokeninfo", "access_token=ya29.a0"},
		{"/v1/token", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=x&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&audience=%2F%2Fiam.googleapis.com%2Fx&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"},
		{"/token", "%zz=%"},
		{"/token", strings.Repeat("a=b&", 100)},
	} {
		f.Add(seed.path, seed.body)
	}
	paths := []string{"/token", "/tokeninfo", "/oauth2/v2/tokeninfo", "/v1/token", "/revoke"}
	f.Fuzz(func(t *testing.T, path, body string) {
		known := false
		for _, p := range paths {
			known = known || p == path
		}
		if !known {
			path = paths[len(path)%len(paths)]
		}
		r := httptest.NewRequest(http.MethodPost, "http://fake.test"+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code == http.StatusOK && path != "/revoke" {
			t.Fatalf("POST %s %q: 200 %s; want a refusal for a token the fake never minted", path, body, w.Body)
		}
		if w.Code < 400 && path != "/revoke" || w.Code > 599 {
			t.Fatalf("POST %s %q: status %d", path, body, w.Code)
		}
	})
}
