package oauthflow

import (
	"strings"
	"testing"
)

func TestParseClientJSON(t *testing.T) {
	t.Parallel()
	const secret = "GOCSPX-not-a-real-secret"
	tests := []struct {
		name     string
		json     string
		wantKind string
		wantErr  string
	}{
		{"installed", `{"installed":{"client_id":"123.apps.googleusercontent.com","project_id":"p","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","client_secret":"` + secret + `","redirect_uris":["http://localhost"]}}`, KindInstalled, ""},
		{"web", `{"web":{"client_id":"w.apps.googleusercontent.com","client_secret":"` + secret + `","redirect_uris":["https://app.example.com/cb"]}}`, KindWeb, ""},
		{"service account key", `{"type":"service_account","private_key":"` + secret + `"}`, "", `is a "service_account" credential, not an OAuth client`},
		{"authorized user", `{"type":"authorized_user","refresh_token":"` + secret + `"}`, "", `is a "authorized_user" credential`},
		{"both shapes", `{"installed":{"client_id":"a"},"web":{"client_id":"b"}}`, "", `both "installed" and "web"`},
		{"neither", `{"client_id":"a","client_secret":"` + secret + `"}`, "", `no "installed" or "web" object (top-level keys: "client_id", "client_secret")`},
		{"not JSON", `client_id=a`, "", "not JSON"},
		{"array", `[1,2]`, "", "not a JSON object"},
		{"empty client id", `{"installed":{"client_secret":"` + secret + `"}}`, "", "client_id is missing"},
		{"wrong field type", `{"installed":{"client_id":42}}`, "", "wrong type"},
		{"web without redirects", `{"web":{"client_id":"w","client_secret":"` + secret + `"}}`, "", "redirect_uris is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClientJSON([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q quotes a secret or spans lines", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseClientJSON: %v", err)
			}
			if c.Kind != tt.wantKind || c.ClientSecret != secret || c.ClientID == "" {
				t.Errorf("got %+v; want kind %q with id and secret", c, tt.wantKind)
			}
		})
	}
}

func TestClientConfigKeepsFileEndpoints(t *testing.T) {
	t.Parallel()
	c, err := ParseClientJSON([]byte(`{"installed":{"client_id":"c","client_secret":"s","auth_uri":"http://127.0.0.1:9/o/oauth2/auth","token_uri":"http://127.0.0.1:9/token"}}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config("openid")
	if cfg.AuthURL != "http://127.0.0.1:9/o/oauth2/auth" || cfg.TokenURL != "http://127.0.0.1:9/token" || cfg.Scopes[0] != "openid" {
		t.Errorf("Config() = %+v; want the file's endpoints and the scopes", cfg)
	}
	u := cfg.AuthCodeURL("http://127.0.0.1:5/", "st", "verifier-verifier-verifier-verifier-verifier", AuthParams{})
	if !strings.HasPrefix(u, "http://127.0.0.1:9/o/oauth2/auth?") || strings.Contains(u, "access_type") {
		t.Errorf("AuthCodeURL = %q; want the file's endpoint and no access_type unless asked", u)
	}
}
