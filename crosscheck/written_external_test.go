package crosscheck_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"

	gcpcreds "github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// TestGoCloudAuthLoadsWrittenExternalAccount: the external_account files
// that gcptoken's writer (credentials.ExternalAccountConfig, behind
// `gcptoken create-cred-config`) makes are files Google's Go library loads
// and gets tokens with from the fake's STS and IAM. The writer encodes with
// gcptoken's reader's wire struct, so only a peer can catch a field name
// that both got wrong.
func TestGoCloudAuthLoadsWrittenExternalAccount(t *testing.T) {
	ctx := goLibContext(t)
	f := newFixture(t)
	fake := f.fake
	sub, err := fake.MintOIDCSubjectToken("written-workload", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := f.write(t, "subject.jwt", []byte(sub))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, "no Metadata header", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"id_token": sub})
	}))
	t.Cleanup(idp.Close)
	for _, kv := range fake.AWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // the library reads os.Getenv
	}
	pool := "principal://iam.googleapis.com/projects/" + fakegoogle.DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + fakegoogle.DefaultWorkloadPool + "/subject/"
	tests := []struct {
		name string
		cfg  gcpcreds.ExternalAccountConfig
		want string // tokeninfo sub prefix, or the impersonated email
	}{
		{"file", gcpcreds.ExternalAccountConfig{Audience: fakegoogle.DefaultOIDCAudience, Source: gcpcreds.ExternalAccountSource{File: tokFile}},
			pool + "written-workload"},
		{"url_json_headers", gcpcreds.ExternalAccountConfig{Audience: fakegoogle.DefaultOIDCAudience, Source: gcpcreds.ExternalAccountSource{
			URL: idp.URL, Headers: map[string]string{"Metadata": "true"}, Format: "json", JSONField: "id_token"}}, pool + "written-workload"},
		{"aws_impersonated", gcpcreds.ExternalAccountConfig{Audience: fakegoogle.DefaultAWSAudience,
			Source:         gcpcreds.ExternalAccountSource{AWS: &gcpcreds.ExternalAccountAWS{MetadataURL: fake.URL, IMDSv2: true}},
			ServiceAccount: fakegoogle.DefaultTargetServiceAccount, TokenLifetimeSeconds: 3600}, fakegoogle.DefaultTargetServiceAccount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.TokenURL, cfg.IAMEndpoint = fake.STSURL(), fake.IAMCredentialsURL()
			path := filepath.Join(t.TempDir(), "cred.json")
			if err := cfg.WriteFile(path, &gcpcreds.Options{Getenv: func(string) string { return "" }}); err != nil {
				t.Fatal(err)
			}
			creds, err := credentials.DetectDefault(&credentials.DetectOptions{CredentialsFile: path, Scopes: []string{scopeCloudPlatform, scopeEmail}})
			if err != nil {
				t.Fatalf("DetectDefault: %v", err)
			}
			tok, err := creds.Token(ctx)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			checkFederatedToken(t, f, fedCase{Name: tt.name, want: tt.want}, tok.Value)
		})
	}
}
