package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

const (
	testWorkloadAudience  = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov"
	testWorkforceAudience = "//iam.googleapis.com/locations/global/workforcePools/wf/providers/prov"
)

// TestExternalAccountConfigRoundTrip: what the writer writes, the reader
// loads, for every source kind, with the defaults filled in.
func TestExternalAccountConfigRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  ExternalAccountConfig
		// want are fields of the file, as JSON paths to values.
		want map[string]any
	}{
		{"file", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/run/tok"}},
			map[string]any{"subject_token_type": SubjectTokenTypeJWT, "token_url": DefaultSTSEndpoint, "universe_domain": DefaultUniverseDomain,
				"credential_source.file": "/run/tok", "credential_source.format.type": "text"}},
		{"url json with headers", ExternalAccountConfig{Audience: testWorkloadAudience,
			Source: ExternalAccountSource{URL: "http://169.254.169.254/token?a=b", Headers: map[string]string{"Metadata": "true"}, Format: "json", JSONField: "access_token"}},
			map[string]any{"credential_source.url": "http://169.254.169.254/token?a=b", "credential_source.headers.Metadata": "true",
				"credential_source.format.type": "json", "credential_source.format.subject_token_field_name": "access_token"}},
		{"executable", ExternalAccountConfig{Audience: testWorkloadAudience,
			Source: ExternalAccountSource{Executable: &ExternalAccountExecutable{Command: "/bin/tok --x", TimeoutMillis: 5000, OutputFile: "/tmp/o.json"}}},
			map[string]any{"credential_source.executable.command": "/bin/tok --x", "credential_source.executable.timeout_millis": 5000.0,
				"credential_source.executable.output_file": "/tmp/o.json"}},
		{"aws imdsv2 impersonated", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{AWS: &ExternalAccountAWS{IMDSv2: true}},
			ServiceAccount: "sa@p.iam.gserviceaccount.com", TokenLifetimeSeconds: 1200},
			map[string]any{"subject_token_type": SubjectTokenTypeAWS, "credential_source.environment_id": "aws1",
				"credential_source.imdsv2_session_token_url":           DefaultAWSMetadataURL + "/latest/api/token",
				"credential_source.region_url":                         DefaultAWSMetadataURL + "/latest/meta-data/placement/availability-zone",
				"credential_source.url":                                DefaultAWSMetadataURL + "/latest/meta-data/iam/security-credentials",
				"credential_source.regional_cred_verification_url":     defaultAWSVerificationURL,
				"service_account_impersonation_url":                    DefaultIAMEndpoint + "/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken",
				"service_account_impersonation.token_lifetime_seconds": 1200.0}},
		{"workforce", ExternalAccountConfig{Audience: testWorkforceAudience, Source: ExternalAccountSource{File: "/tok"}, WorkforcePoolUserProject: "proj"},
			map[string]any{"subject_token_type": SubjectTokenTypeIDToken, "workforce_pool_user_project": "proj"}},
		{"endpoints and universe", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{AWS: &ExternalAccountAWS{MetadataURL: "http://imds.test/"}},
			TokenURL: "https://sts.example/v1/token", IAMEndpoint: "https://iam.example/", ServiceAccount: "sa@p.iam.gserviceaccount.com",
			UniverseDomain: "example.com", SubjectTokenType: SubjectTokenTypeSAML2},
			map[string]any{"token_url": "https://sts.example/v1/token", "universe_domain": "example.com", "subject_token_type": SubjectTokenTypeSAML2,
				"credential_source.url":             "http://imds.test/latest/meta-data/iam/security-credentials",
				"service_account_impersonation_url": "https://iam.example/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := tt.cfg.Marshal(isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if doc["type"] != TypeExternalAccount || doc["audience"] != tt.cfg.Audience {
				t.Errorf("type and audience: %s", data)
			}
			for path, want := range tt.want {
				if got := jsonPath(doc, path); got != want {
					t.Errorf("%s = %v; want %v\n%s", path, got, want, data)
				}
			}
			c, err := FromJSON(data, isolated(t, nil))
			if err != nil {
				t.Fatalf("the reader refuses what the writer wrote: %v\n%s", err, data)
			}
			if c.Type != TypeExternalAccount {
				t.Errorf("loaded as %q", c.Type)
			}
		})
	}
}

// jsonPath looks a dotted path up in a decoded JSON object.
func jsonPath(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestExternalAccountConfigEncoding pins the bytes: the key order, two
// spaces of indentation, & and {region} unescaped, a final newline, and
// nothing empty written.
func TestExternalAccountConfigEncoding(t *testing.T) {
	t.Parallel()
	cfg := &ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{AWS: &ExternalAccountAWS{}}}
	got, err := cfg.Marshal(isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "type": "external_account",
  "audience": "` + testWorkloadAudience + `",
  "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
  "token_url": "https://sts.googleapis.com/v1/token",
  "credential_source": {
    "environment_id": "aws1",
    "region_url": "http://169.254.169.254/latest/meta-data/placement/availability-zone",
    "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
    "url": "http://169.254.169.254/latest/meta-data/iam/security-credentials"
  },
  "universe_domain": "googleapis.com"
}
`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
}

// TestExternalAccountConfigEnvironment: the default endpoints follow
// GCPTOKEN_STS_ENDPOINT, GCPTOKEN_IAM_ENDPOINT and GCPTOKEN_EMULATOR_HOST,
// as loading does; explicit ones do not.
func TestExternalAccountConfigEnvironment(t *testing.T) {
	t.Parallel()
	cfg := ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/tok"}, ServiceAccount: "sa@p.iam.gserviceaccount.com"}
	tests := []struct {
		name          string
		env           map[string]string
		explicit      bool
		wantSTS       string
		wantIAMPrefix string
	}{
		{"emulator", map[string]string{"GCPTOKEN_EMULATOR_HOST": "127.0.0.1:8086"}, false, "http://127.0.0.1:8086/v1/token", "http://127.0.0.1:8086/v1/"},
		{"per endpoint", map[string]string{"GCPTOKEN_EMULATOR_HOST": "127.0.0.1:8086", "GCPTOKEN_STS_ENDPOINT": "https://sts.test/t",
			"GCPTOKEN_IAM_ENDPOINT": "https://iam.test"}, false, "https://sts.test/t", "https://iam.test/v1/"},
		{"explicit", map[string]string{"GCPTOKEN_EMULATOR_HOST": "127.0.0.1:8086"}, true, "https://sts.x/token", "https://iam.x/v1/"},
	}
	for _, tt := range tests {
		c := cfg
		if tt.explicit {
			c.TokenURL, c.IAMEndpoint = "https://sts.x/token", "https://iam.x"
		}
		data, err := c.Marshal(isolated(t, tt.env))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var doc map[string]any
		json.Unmarshal(data, &doc)
		if doc["token_url"] != tt.wantSTS || !strings.HasPrefix(doc["service_account_impersonation_url"].(string), tt.wantIAMPrefix) {
			t.Errorf("%s: token_url %v, impersonation %v; want %s, %s…", tt.name, doc["token_url"], doc["service_account_impersonation_url"], tt.wantSTS, tt.wantIAMPrefix)
		}
	}
	_, err := cfg.Marshal(isolated(t, map[string]string{"GCPTOKEN_STS_ENDPOINT": "sts"}))
	wantErrContains(t, err, "GCPTOKEN_STS_ENDPOINT", `"sts" is not an absolute http(s) URL`)
}

// TestExternalAccountConfigRefused: the writer refuses what the reader
// would refuse, and what cannot be written at all, naming what to fix.
func TestExternalAccountConfigRefused(t *testing.T) {
	t.Parallel()
	file := ExternalAccountSource{File: "/tok"}
	tests := []struct {
		name string
		cfg  ExternalAccountConfig
		want []string
	}{
		{"no audience", ExternalAccountConfig{Source: file}, []string{"Audience is required"}},
		{"no source", ExternalAccountConfig{Audience: testWorkloadAudience}, []string{"Source: set exactly one", "set: none"}},
		{"two sources", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/t", AWS: &ExternalAccountAWS{}}},
			[]string{"set: File, AWS"}},
		{"headers without URL", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/t", Headers: map[string]string{"a": "b"}}},
			[]string{"Source.Headers"}},
		{"format for AWS", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{AWS: &ExternalAccountAWS{}, Format: "json"}},
			[]string{"Source.Format"}},
		{"field without json", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/t", JSONField: "x"}},
			[]string{"Source.JSONField"}},
		{"lifetime without service account", ExternalAccountConfig{Audience: testWorkloadAudience, Source: file, TokenLifetimeSeconds: 900},
			[]string{"TokenLifetimeSeconds needs ServiceAccount"}},
		{"bad token URL", ExternalAccountConfig{Audience: testWorkloadAudience, Source: file, TokenURL: "sts"}, []string{"TokenURL", "not an absolute"}},
		// The reader's checks.
		{"json without field", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/t", Format: "json"}},
			[]string{"format.subject_token_field_name", "missing"}},
		{"unknown format", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{File: "/t", Format: "xml"}},
			[]string{"format.type", "xml"}},
		{"relative URL", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{URL: "/t"}}, []string{"url", "not an absolute"}},
		{"timeout out of range", ExternalAccountConfig{Audience: testWorkloadAudience,
			Source: ExternalAccountSource{Executable: &ExternalAccountExecutable{Command: "x", TimeoutMillis: 10}}},
			[]string{"executable.timeout_millis", "outside [5000, 120000]"}},
		{"empty command", ExternalAccountConfig{Audience: testWorkloadAudience, Source: ExternalAccountSource{Executable: &ExternalAccountExecutable{}}},
			[]string{"executable.command"}},
		{"lifetime out of range", ExternalAccountConfig{Audience: testWorkloadAudience, Source: file, ServiceAccount: "sa@p.iam.gserviceaccount.com",
			TokenLifetimeSeconds: 100}, []string{"token_lifetime_seconds", "outside [600, 43200]"}},
		{"user project on a workload pool", ExternalAccountConfig{Audience: testWorkloadAudience, Source: file, WorkforcePoolUserProject: "p"},
			[]string{"workforce_pool_user_project", "workforce pool audience"}},
		{"bad universe", ExternalAccountConfig{Audience: testWorkloadAudience, Source: file, UniverseDomain: "a/b"}, []string{"universe_domain"}},
		{"control character", ExternalAccountConfig{Audience: testWorkloadAudience + "\x1b[2J", Source: file}, []string{"audience", "control character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := tt.cfg.Marshal(isolated(t, nil))
			if data != nil {
				t.Errorf("Marshal returned data with an error:\n%s", data)
			}
			wantErrContains(t, err, append([]string{"external_account config: "}, tt.want...)...)
			path := filepath.Join(t.TempDir(), "cred.json")
			if err := tt.cfg.WriteFile(path, isolated(t, nil)); err == nil {
				t.Error("WriteFile succeeded")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused config left a file: %v", err)
			}
		})
	}
}

// TestExternalAccountConfigWriteFile writes files against the fake Google
// and gets tokens with them: the subject token from a file, exchanged at
// the fake's STS, and AWS credentials from the environment, exchanged and
// then impersonating a service account.
func TestExternalAccountConfigWriteFile(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	sub, err := f.MintOIDCSubjectToken("writer-test", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := writeFile(t, "tok.jwt", []byte(sub))
	vars := awsEnv(f)
	vars["GCPTOKEN_EMULATOR_HOST"] = strings.TrimPrefix(f.URL, "http://")
	target, ok := f.ServiceAccount(fakegoogle.DefaultTargetServiceAccount)
	if !ok {
		t.Fatal("the fake has no target service account")
	}
	tests := []struct {
		name string
		cfg  ExternalAccountConfig
		want func(info map[string]any) bool
	}{
		{"file", ExternalAccountConfig{Audience: fakegoogle.DefaultOIDCAudience, Source: ExternalAccountSource{File: tokFile}},
			func(info map[string]any) bool { return info["sub"] == poolPrincipal+"writer-test" }},
		{"aws impersonated", ExternalAccountConfig{Audience: fakegoogle.DefaultAWSAudience, Source: ExternalAccountSource{AWS: &ExternalAccountAWS{MetadataURL: f.URL}},
			ServiceAccount: fakegoogle.DefaultTargetServiceAccount, TokenLifetimeSeconds: 1200},
			func(info map[string]any) bool {
				// The lifetime asked for, give or take the second it took.
				secs, _ := strconv.Atoi(fmt.Sprint(info["expires_in"]))
				return info["sub"] == target.UniqueID && secs > 1100 && secs <= 1200
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "cred.json")
			if err := tt.cfg.WriteFile(path, isolated(t, vars)); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
				t.Errorf("written file: %v, %v; want mode 0600", fi, err)
			}
			c, err := FromFile(path, isolated(t, vars))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.AccessToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tok.Kind != gcptoken.AccessToken || !tt.want(tokenInfo(t, f, tok.Value)) {
				t.Errorf("token is for %v", tokenInfo(t, f, tok.Value))
			}
		})
	}
}
