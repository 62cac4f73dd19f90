package credentials

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// fakeMetadata serves the two token paths the way GCE does; handle answers
// after the common request checks.
func fakeMetadata(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("got method %q; want GET", r.Method)
		}
		if got := r.Header.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("got Metadata-Flavor = %q; want Google", got)
		}
		w.Header().Set("Metadata-Flavor", "Google")
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func metadataCreds(t *testing.T, host string) *Credentials {
	t.Helper()
	opts := isolated(t, nil)
	opts.MetadataHost = host
	c, err := Detect(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != TypeComputeMetadata {
		t.Fatalf("got Type = %q; want %q", c.Type, TypeComputeMetadata)
	}
	return c
}

func TestMetadataAccessToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scopes     []string
		wantScopes string // "" = no scopes parameter
	}{
		{"default scopes", nil, ""},
		{"scopes comma-joined", []string{"https://www.googleapis.com/auth/cloud-platform", "openid"}, "https://www.googleapis.com/auth/cloud-platform,openid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != metadataTokenPath {
					t.Errorf("got path %q; want %q", r.URL.Path, metadataTokenPath)
				}
				got, ok := r.URL.Query()["scopes"]
				if (tt.wantScopes == "") == ok || (ok && got[0] != tt.wantScopes) {
					t.Errorf("got scopes = %q; want %q", got, tt.wantScopes)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"ya29.md","expires_in":3599,"token_type":"Bearer"}`))
			})
			c := metadataCreds(t, host)
			tp, err := c.AccessTokenProvider(tt.scopes)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != "ya29.md" || tok.Kind != gcptoken.AccessToken || tok.TokenType() != "Bearer" {
				t.Errorf("got token %q kind %q type %q; want ya29.md access_token Bearer", tok.Value, tok.Kind, tok.TokenType())
			}
			if d := time.Until(tok.Expiry); d < 3500*time.Second || d > 3600*time.Second {
				t.Errorf("got expiry in %v; want about 3599s", d)
			}
		})
	}
}

func TestMetadataAccessTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		wantTemporary bool
		want          string
	}{
		{"zero expires_in", 200, `{"access_token":"ya29.md","expires_in":0}`, false, "no positive expires_in"},
		{"negative expires_in", 200, `{"access_token":"ya29.md","expires_in":-5}`, false, "no positive expires_in"},
		{"empty token", 200, `{"access_token":"","expires_in":3599}`, false, "no access_token"},
		{"not JSON", 200, `<html>`, false, "malformed response"},
		{"404", 404, "not found", false, "HTTP 404"},
		{"503", 503, "busy", true, "HTTP 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			tp, _ := metadataCreds(t, host).AccessTokenProvider(nil)
			_, err := tp.Token(t.Context())
			wantErrContains(t, err, "fetch access token from http://"+host+metadataTokenPath, tt.want)
			if got := gcptoken.IsTemporary(err); got != tt.wantTemporary {
				t.Errorf("IsTemporary(%v) = %v; want %v", err, got, tt.wantTemporary)
			}
		})
	}
}

func TestMetadataUnreachable(t *testing.T) {
	t.Parallel()
	c := metadataCreds(t, closedHost(t))
	tp, _ := c.AccessTokenProvider(nil)
	_, err := tp.Token(t.Context())
	if !gcptoken.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false; want true", err)
	}
	var ge *gcptoken.Error
	if !errors.As(err, &ge) || ge.StatusCode != 0 {
		t.Errorf("got error %#v; want a *gcptoken.Error without status", err)
	}
}

func TestMetadataIDToken(t *testing.T) {
	t.Parallel()
	const aud = "https://svc.example.com/?a=b&c"
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	jwt := fakeJWT(t, map[string]any{"aud": aud, "exp": exp.Unix(), "iss": "https://accounts.google.com"})
	host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != metadataIdentityPath {
			t.Errorf("got path %q; want %q", r.URL.Path, metadataIdentityPath)
		}
		q := r.URL.Query()
		if q.Get("audience") != aud || q.Get("format") != "full" {
			t.Errorf("got query %q; want audience=%q and format=full", r.URL.RawQuery, aud)
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(jwt))
	})
	c := metadataCreds(t, host)
	tp, err := c.IDTokenProvider(aud)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != jwt || tok.Kind != gcptoken.IDToken {
		t.Errorf("got token %q kind %q; want the JWT, kind id_token", tok.Value, tok.Kind)
	}
	if !tok.Expiry.Equal(exp) {
		t.Errorf("got Expiry = %v; want %v", tok.Expiry, exp)
	}
	if got := tok.Metadata[gcptoken.MetaAudience]; got != aud {
		t.Errorf("got Metadata[audience] = %q; want %q", got, aud)
	}
	wantEP := []string{"http://" + host + metadataTokenPath, "http://" + host + metadataIdentityPath}
	if got := c.TokenEndpoints(); len(got) != 2 || got[0] != wantEP[0] || got[1] != wantEP[1] {
		t.Errorf("got TokenEndpoints() = %q; want %q", got, wantEP)
	}
	if got, want := c.Identity(), "compute_metadata|http://"+host; got != want {
		t.Errorf("got Identity() = %q; want %q", got, want)
	}
}
