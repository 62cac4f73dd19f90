package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

const testAWSProvider = "projects/" + fakegoogle.DefaultProjectNumber + "/locations/global/workloadIdentityPools/" +
	fakegoogle.DefaultWorkloadPool + "/providers/" + fakegoogle.DefaultAWSProvider

const testOIDCProvider = "projects/" + fakegoogle.DefaultProjectNumber + "/locations/global/workloadIdentityPools/" +
	fakegoogle.DefaultWorkloadPool + "/providers/" + fakegoogle.DefaultOIDCProvider

// fedEnv is a test environment pointed at the fake's STS, IAM and AWS
// instance metadata, as the emulator's env.sh does.
func fedEnv(t *testing.T, f *fakegoogle.Running, extra ...string) env {
	t.Helper()
	e := newEnv(t)
	e[envSTSEndpoint] = f.STSURL()
	e[envIAMEndpoint] = f.IAMCredentialsURL()
	e[envAWSMetadataEndpoint] = f.URL
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	return e
}

// writeCredConfig runs create-cred-config and returns the file it wrote.
func writeCredConfig(t *testing.T, e env, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cred.json")
	r := run(t, e, "", append(append([]string{"create-cred-config"}, args...), "--output-file", out)...)
	wantCode(t, r, 0)
	return out
}

func TestCreateCredConfigFile(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := fedEnv(t, f)
	out := writeCredConfig(t, e, "//iam.googleapis.com/"+testAWSProvider, "--aws", "--enable-imdsv2",
		"--service-account", fakegoogle.DefaultTargetServiceAccount, "--service-account-token-lifetime-seconds", "1200")
	wantMode(t, out, 0o600)
	data, _ := os.ReadFile(out)
	var got struct {
		Type             string `json:"type"`
		Audience         string `json:"audience"`
		SubjectTokenType string `json:"subject_token_type"`
		TokenURL         string `json:"token_url"`
		Source           struct {
			EnvironmentID string `json:"environment_id"`
			RegionURL     string `json:"region_url"`
			URL           string `json:"url"`
			IMDSv2        string `json:"imdsv2_session_token_url"`
			Verification  string `json:"regional_cred_verification_url"`
		} `json:"credential_source"`
		ImpURL string `json:"service_account_impersonation_url"`
		Imp    struct {
			Lifetime int `json:"token_lifetime_seconds"`
		} `json:"service_account_impersonation"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "external_account" || got.Audience != fakegoogle.DefaultAWSAudience ||
		got.SubjectTokenType != "urn:ietf:params:aws:token-type:aws4_request" || got.TokenURL != f.STSURL() {
		t.Errorf("file %s", data)
	}
	if got.Source.EnvironmentID != "aws1" || got.Source.IMDSv2 != f.URL+"/latest/api/token" ||
		got.Source.RegionURL != f.URL+"/latest/meta-data/placement/availability-zone" || !strings.Contains(got.Source.Verification, "{region}") {
		t.Errorf("credential_source %+v", got.Source)
	}
	if got.ImpURL != f.URL+"/v1/projects/-/serviceAccounts/"+fakegoogle.DefaultTargetServiceAccount+":generateAccessToken" || got.Imp.Lifetime != 1200 {
		t.Errorf("impersonation %q %d", got.ImpURL, got.Imp.Lifetime)
	}

	// The file works: IMDS (no AWS env), then an access and an ID token.
	r := run(t, e, "", "print-access-token", "--credentials", out)
	wantCode(t, r, 0)
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "ya29.") {
		t.Errorf("access token %q", r.stdout)
	}
	r = run(t, e, "", "print-identity-token", "--credentials", out, "--audience", "https://svc.example")
	wantCode(t, r, 0)
	if strings.Count(strings.TrimSpace(r.stdout), ".") != 2 {
		t.Errorf("ID token %q is not a JWT", r.stdout)
	}
}

func TestCreateCredConfigUsage(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := fedEnv(t, f)
	out := filepath.Join(t.TempDir(), "c.json")
	tests := []struct {
		name  string
		args  []string
		frags []string
	}{
		{"bad provider", []string{"projects/my-project/locations/global/workloadIdentityPools/p/providers/x", "--aws"}, []string{"provider", "project number"}},
		{"no source", []string{testAWSProvider}, []string{"--aws, --credential-source-file"}},
		{"two sources", []string{testAWSProvider, "--aws", "--credential-source-file", "t"}, []string{"--aws and --credential-source-file"}},
		{"imdsv2 without aws", []string{testOIDCProvider, "--credential-source-file", "t", "--enable-imdsv2"}, []string{"--enable-imdsv2 needs --aws"}},
		{"json without field", []string{testOIDCProvider, "--credential-source-file", "t", "--credential-source-type", "json"}, []string{"--credential-source-field-name"}},
		{"bad header", []string{testOIDCProvider, "--credential-source-url", "http://x/t", "--credential-source-headers", "nokey"}, []string{"--credential-source-headers", "KEY=VALUE"}},
		{"timeout", []string{testOIDCProvider, "--executable-command", "x", "--executable-timeout-millis", "10"}, []string{"--executable-timeout-millis 10"}},
		{"lifetime without sa", []string{testOIDCProvider, "--credential-source-file", "t", "--service-account-token-lifetime-seconds", "900"}, []string{"needs --service-account"}},
		{"user project on workload", []string{testOIDCProvider, "--credential-source-file", "t", "--workforce-pool-user-project", "p"}, []string{"--workforce-pool-user-project"}},
		{"bad sts endpoint", []string{testOIDCProvider, "--credential-source-file", "t", "--sts-endpoint", "sts"}, []string{"--sts-endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, e, "", append(append([]string{"create-cred-config"}, tt.args...), "--output-file", out)...)
			wantCode(t, r, ExitUsage)
			wantOneLineError(t, r, tt.frags...)
		})
	}
	r := run(t, e, "", "create-cred-config", testAWSProvider, "--aws")
	wantCode(t, r, ExitUsage)
	wantOneLineError(t, r, "--output-file")
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote the file")
	}
}

// shiftedClock is a clock tests move back and forth.
type shiftedClock struct{ offset atomic.Int64 }

func (c *shiftedClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func script(t *testing.T, body string) string {
	t.Helper()
	skipOnWindows(t, "its executable credential sources are sh scripts")
	p := filepath.Join(t.TempDir(), "cred.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExternalAccountBadInput checks that each broken link of the chain is
// one line naming the step that failed, with the right exit code.
func TestExternalAccountBadInput(t *testing.T) {
	t.Parallel()
	clock := &shiftedClock{}
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{Now: clock.now, RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	clock.offset.Store(int64(-2 * time.Hour))
	expired, err := f.MintOIDCSubjectToken("w", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clock.offset.Store(0)
	wrongAud, err := f.MintOIDCSubjectToken("w", "https://example.com", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	base := fedEnv(t, f)
	keyID, secret := f.AWSAccessKey()
	awsFile := writeCredConfig(t, base, testAWSProvider, "--aws")
	noMetadata := filepath.Join(t.TempDir(), "aws-no-imds.json")
	{
		data, _ := os.ReadFile(awsFile)
		var m map[string]any
		json.Unmarshal(data, &m)
		cs := m["credential_source"].(map[string]any)
		delete(cs, "url")
		delete(cs, "region_url")
		data, _ = json.Marshal(m)
		os.WriteFile(noMetadata, data, 0o600)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	deadIMDS := writeCredConfig(t, base, testAWSProvider, "--aws", "--aws-metadata-endpoint", closed)
	oidc := func(tok string) string {
		return writeCredConfig(t, base, testOIDCProvider, "--credential-source-file", writeFile(t, "tok.jwt", []byte(tok)))
	}
	exe := func(body string, extra ...string) string {
		return writeCredConfig(t, base, append([]string{testOIDCProvider, "--executable-command", script(t, body)}, extra...)...)
	}
	allow := "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1"
	tests := []struct {
		name  string
		file  string
		env   []string
		args  []string
		code  int
		frags []string
	}{
		{"missing AWS credentials", noMetadata, []string{"AWS_REGION=us-east-2"}, nil, ExitCredentials,
			[]string{"get the subject token from AWS", "no AWS credentials", "AWS_ACCESS_KEY_ID"}},
		{"instance metadata unreachable", deadIMDS, nil, nil, ExitUnavailable,
			[]string{"get the subject token from AWS", "read the AWS availability zone from " + closed}},
		{"wrong region", awsFile, []string{"AWS_REGION=us-east-2b", "AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret}, nil, ExitCredentials,
			[]string{"get the subject token from AWS", `AWS region "us-east-2b" (from AWS_REGION)`}},
		{"tampered signature", awsFile, []string{"AWS_REGION=us-east-2", "AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=not-the-secret"}, nil, ExitCredentials,
			[]string{"STS token exchange from " + f.STSURL(), "invalid_grant", "signature does not match"}},
		{"expired subject token", oidc(expired), nil, nil, ExitCredentials,
			[]string{"STS token exchange from " + f.STSURL(), "invalid_grant", "expired"}},
		{"wrong audience", oidc(wrongAud), nil, nil, ExitCredentials,
			[]string{"STS token exchange", "invalid_grant", "expected audience"}},
		{"executable times out", exe("sleep 30", "--executable-timeout-millis", "5000"), []string{allow}, nil, ExitCredentials,
			[]string{"get the subject token from executable", "timed out after 5s"}},
		{"executable prints garbage", exe("echo hello"), []string{allow}, nil, ExitCredentials,
			[]string{"get the subject token from executable", "not the JSON response"}},
		{"executable exits non-zero", exe("exit 2"), []string{allow}, nil, ExitCredentials,
			[]string{"get the subject token from executable", "exited with status 2"}},
		{"executables not allowed", exe("echo hello"), nil, nil, ExitCredentials,
			[]string{"get the subject token from executable", "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1"}},
		{"ID token without impersonation", awsFile, []string{"AWS_REGION=us-east-2", "AWS_ACCESS_KEY_ID=" + keyID, "AWS_SECRET_ACCESS_KEY=" + secret},
			[]string{"print-identity-token", "--audience", "https://x"}, ExitCredentials, []string{"cannot make ID tokens", "--service-account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := fedEnv(t, f, tt.env...)
			args := tt.args
			if args == nil {
				args = []string{"print-access-token"}
			}
			r := run(t, e, "", append(args, "--credentials", tt.file)...)
			wantCode(t, r, tt.code)
			wantOneLineError(t, r, tt.frags...)
			if strings.Contains(r.stderr, secret) {
				t.Errorf("stderr shows the AWS secret: %s", r.stderr)
			}
		})
	}
}

// TestExternalAccountCacheKeys checks that the disk cache tells external
// accounts apart: two audiences, one token file, two tokens.
func TestExternalAccountCacheKeys(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := fedEnv(t, f)
	tok, err := f.MintOIDCSubjectToken("w1", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := writeFile(t, "tok.jwt", []byte(tok))
	a := writeCredConfig(t, e, testOIDCProvider, "--credential-source-file", tokFile)
	b := writeCredConfig(t, e, testOIDCProvider, "--credential-source-file", tokFile, "--service-account", fakegoogle.DefaultTargetServiceAccount)
	ra := run(t, e, "", "print-access-token", "--credentials", a)
	wantCode(t, ra, 0)
	rb := run(t, e, "", "print-access-token", "--credentials", b)
	wantCode(t, rb, 0)
	if ra.stdout == rb.stdout {
		t.Error("federated and impersonated credentials share a cached token")
	}
	again := run(t, e, "", "print-access-token", "--credentials", a)
	wantCode(t, again, 0)
	if again.stdout != ra.stdout {
		t.Error("the federated token was not cached")
	}
}

// TestCreateCredConfigSources makes files for the URL (JSON, headers),
// executable and workforce variants and gets tokens with them.
func TestCreateCredConfigSources(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := fedEnv(t, f, "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1")
	tok, err := f.MintOIDCSubjectToken("src-workload", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wfTok, err := f.MintOIDCSubjectToken("erin", "https:"+fakegoogle.DefaultWorkforceAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			http.Error(w, "missing header", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"access_token": tok})
	}))
	t.Cleanup(srv.Close)
	exp := time.Now().Add(time.Hour).Unix()
	execOut := `{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"` + tok + `","expiration_time":` + strconv.FormatInt(exp, 10) + `}`
	workforce := "locations/global/workforcePools/" + fakegoogle.DefaultWorkforcePool + "/providers/" + fakegoogle.DefaultWorkforceProvider
	pool := "principal://iam.googleapis.com/projects/" + fakegoogle.DefaultProjectNumber + "/locations/global/workloadIdentityPools/fake-pool/subject/"
	tests := []struct {
		name string
		args []string
		sub  string
	}{
		{"url json with headers", []string{testOIDCProvider, "--credential-source-url", srv.URL, "--credential-source-headers", "Metadata=true",
			"--credential-source-type", "json", "--credential-source-field-name", "access_token"}, pool + "src-workload"},
		{"executable", []string{testOIDCProvider, "--executable-command", script(t, "echo '"+execOut+"'"), "--executable-timeout-millis", "5000"}, pool + "src-workload"},
		{"workforce file with user project", []string{workforce, "--credential-source-file", writeFile(t, "wf.jwt", []byte(wfTok)),
			"--workforce-pool-user-project", fakegoogle.DefaultProjectID},
			"principal://iam.googleapis.com/locations/global/workforcePools/" + fakegoogle.DefaultWorkforcePool + "/subject/erin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := writeCredConfig(t, e, tt.args...)
			r := run(t, e, "", "print-access-token", "--credentials", file, "--no-cache")
			wantCode(t, r, 0)
			info := run(t, e, "", "info", "--format", "json", "--tokeninfo-url", f.URL+"/tokeninfo", strings.TrimSpace(r.stdout))
			wantCode(t, info, 0)
			if !strings.Contains(info.stdout, tt.sub) {
				t.Errorf("info for the token does not name %s:\n%s", tt.sub, info.stdout)
			}
		})
	}
}
