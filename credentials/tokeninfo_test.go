package credentials

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken"
)

// tokenInfoServer answers every POST with status and body after checking
// that the token came in the form, never in the URL.
func tokenInfoServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.RawQuery != "" {
			t.Errorf("got %s %s; want a POST without a query", r.Method, r.URL)
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("access_token") != "ya29.tok" {
			t.Errorf("got form %v (%v); want access_token=ya29.tok", r.PostForm, err)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestTokenInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		wantScope   string
		wantErr     string
		wantInvalid bool
		wantDown    bool
	}{
		{name: "ok", status: 200, body: `{"scope":"https://www.googleapis.com/auth/cloud-platform","expires_in":"3599"}`, wantScope: ScopeCloudPlatform},
		{name: "token refused", status: 400, body: `{"error":"invalid_token","error_description":"Invalid Value"}`,
			wantErr: "the token is not accepted (expired, revoked, or not an access token)", wantInvalid: true},
		{name: "outage", status: 503, body: `oops`, wantErr: "HTTP 503", wantDown: true},
		{name: "not JSON", status: 200, body: `<html>`, wantErr: "malformed response: not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tokenInfoServer(t, tt.status, tt.body)
			info, err := TokenInfo(t.Context(), "ya29.tok", &TokenInfoOptions{Endpoint: s.URL + "/tokeninfo"})
			if tt.wantErr == "" {
				if err != nil || info["scope"] != tt.wantScope {
					t.Fatalf("got %v, %v; want scope %q", info, err, tt.wantScope)
				}
				return
			}
			wantErrContains(t, err, tt.wantErr, s.URL)
			if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.wantInvalid {
				t.Errorf("got errors.Is(err, ErrInvalidCredentials) = %v; want %v", got, tt.wantInvalid)
			}
			if got := gcptoken.IsUnavailable(err); got != tt.wantDown {
				t.Errorf("got IsUnavailable = %v; want %v", got, tt.wantDown)
			}
		})
	}
}

// TestTokenInfoEndpoint: the option, else GCPTOKEN_TOKENINFO_URL, else the
// emulator's; a bad URL is an error naming where it came from.
func TestTokenInfoEndpoint(t *testing.T) {
	t.Parallel()
	s := tokenInfoServer(t, 200, `{"scope":"s"}`)
	host := strings.TrimPrefix(s.URL, "http://")
	for name, opts := range map[string]*TokenInfoOptions{
		"GCPTOKEN_TOKENINFO_URL": {Getenv: env(map[string]string{"GCPTOKEN_TOKENINFO_URL": s.URL + "/x"})},
		"the emulator":           {Getenv: env(map[string]string{"GCPTOKEN_EMULATOR_HOST": host})},
	} {
		if info, err := TokenInfo(t.Context(), "ya29.tok", opts); err != nil || info["scope"] != "s" {
			t.Errorf("%s: got %v, %v; want the server's answer", name, info, err)
		}
	}
	_, err := TokenInfo(t.Context(), "ya29.tok", &TokenInfoOptions{Endpoint: "nope"})
	wantErrContains(t, err, "TokenInfoOptions.Endpoint", `"nope"`)
	_, err = TokenInfo(t.Context(), "ya29.tok", &TokenInfoOptions{Getenv: env(map[string]string{"GCPTOKEN_TOKENINFO_URL": "ftp://x"})})
	wantErrContains(t, err, "GCPTOKEN_TOKENINFO_URL")
}
