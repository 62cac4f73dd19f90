package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// startFederationFake starts a fake Google with its fake AWS and OIDC
// identity provider for one test.
func startFederationFake(t *testing.T) *fakegoogle.Running {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tokenInfo asks the fake who a token is for.
func tokenInfo(t *testing.T, f *fakegoogle.Running, tok string) map[string]any {
	t.Helper()
	resp, err := http.Get(f.URL + "/tokeninfo?access_token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fileWith decodes a fake-written file, applies edit and writes it.
func fileWith(t *testing.T, data []byte, edit func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	return writeFile(t, "external.json", mustJSON(t, m))
}

func awsEnv(f *fakegoogle.Running) map[string]string {
	m := map[string]string{}
	for _, kv := range f.AWSEnv() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

const (
	poolPrincipal = "principal://iam.googleapis.com/projects/" + fakegoogle.DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + fakegoogle.DefaultWorkloadPool + "/subject/"
)

func TestExternalAccountAWS(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	plain, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{AWS: true})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{AWS: true, IMDSv2: true})
	if err != nil {
		t.Fatal(err)
	}
	user := poolPrincipal + "arn:aws:iam::" + fakegoogle.FakeAWSAccountID + ":user/" + fakegoogle.FakeAWSUser
	role := poolPrincipal + "arn:aws:sts::" + fakegoogle.FakeAWSAccountID + ":assumed-role/" + fakegoogle.FakeAWSRole + "/"
	tests := []struct {
		name      string
		file      []byte
		env       map[string]string
		requireV2 bool
		want      string // principal prefix
	}{
		{"environment key", plain, awsEnv(f), false, user},
		{"IMDSv1 role and region", plain, nil, false, role},
		{"IMDSv2 role and region", v2, nil, true, role},
		{"env region, IMDSv2 role", v2, map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"}, true, role},
	}
	for _, tt := range tests { // sequential: RequireIMDSv2 is server-wide
		t.Run(tt.name, func(t *testing.T) {
			f.RequireIMDSv2(tt.requireV2)
			c, err := FromFile(fileWith(t, tt.file, nil), isolated(t, tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Type != TypeExternalAccount || !strings.Contains(c.Source, "subject token from AWS") {
				t.Errorf("Type %q Source %q; want external_account from AWS", c.Type, c.Source)
			}
			tp, err := c.AccessTokenSource([]string{ScopeCloudPlatform})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(context.Background())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if sub, _ := tokenInfo(t, f, tok.Value)["sub"].(string); !strings.HasPrefix(sub, tt.want) {
				t.Errorf("token is for %q; want %q…", sub, tt.want)
			}
			if !tok.Expiry.After(time.Now().Add(50 * time.Minute)) {
				t.Errorf("Expiry %v; want about an hour", tok.Expiry)
			}
		})
	}
}

func TestExternalAccountImpersonation(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	data, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{AWS: true,
		ServiceAccount: fakegoogle.DefaultTargetServiceAccount, TokenLifetimeSeconds: 1800})
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromFile(fileWith(t, data, nil), isolated(t, awsEnv(f)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != TypeExternalAccount || c.Principal != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("Type %q Principal %q", c.Type, c.Principal)
	}
	tp, _ := c.AccessTokenSource([]string{"https://www.googleapis.com/auth/userinfo.email"})
	tok, err := tp.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	info := tokenInfo(t, f, tok.Value)
	if info["email"] != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("impersonated token is for %v; want %s", info["email"], fakegoogle.DefaultTargetServiceAccount)
	}
	if d := time.Until(tok.Expiry); d > 31*time.Minute || d < 29*time.Minute {
		t.Errorf("token lasts %v; want token_lifetime_seconds 1800", d)
	}
	itp, err := c.IDTokenSource("https://svc.example", &IDTokenOptions{IncludeEmail: true})
	if err != nil {
		t.Fatal(err)
	}
	id, err := itp.Token(context.Background())
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if id.Metadata[gcptoken.MetaAudience] != "https://svc.example" || id.Kind != gcptoken.IDToken {
		t.Errorf("ID token %+v", id)
	}

	// Without the grant, the error names the impersonation step.
	bad, _ := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{AWS: true, ServiceAccount: fakegoogle.DefaultServiceAccount})
	c2, err := FromFile(fileWith(t, bad, nil), isolated(t, awsEnv(f)))
	if err != nil {
		t.Fatal(err)
	}
	tp2, _ := c2.AccessTokenSource([]string{ScopeCloudPlatform})
	_, err = tp2.Token(context.Background())
	wantErrContains(t, err, "impersonate "+fakegoogle.DefaultServiceAccount, "403")
	if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false; want true", err)
	}

	// Without impersonation, no ID tokens.
	plain, _ := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{AWS: true})
	c3, err := FromFile(fileWith(t, plain, nil), isolated(t, awsEnv(f)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c3.IDTokenSource("https://svc.example", nil)
	wantErrContains(t, err, "cannot make ID tokens", "service_account_impersonation_url")
}

func TestExternalAccountOIDCSources(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	tok, err := f.MintOIDCSubjectToken("workload-a", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	textFile := writeFile(t, "token.jwt", []byte(tok+"\n"))
	jsonFile := writeFile(t, "token.json", mustJSON(t, map[string]string{"id_token": tok}))
	urlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "True" {
			http.Error(w, "no header", http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"access_token": tok})
	}))
	t.Cleanup(urlSrv.Close)
	base, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: textFile})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		source map[string]any
		env    map[string]string
		want   string // error fragment; "" for success
	}{
		{"file text", map[string]any{"file": textFile}, nil, ""},
		{"file json", map[string]any{"file": jsonFile, "format": map[string]any{"type": "json", "subject_token_field_name": "id_token"}}, nil, ""},
		{"url json with headers", map[string]any{"url": urlSrv.URL, "headers": map[string]string{"Metadata": "True"},
			"format": map[string]any{"type": "json", "subject_token_field_name": "access_token"}}, nil, ""},
		{"url without headers", map[string]any{"url": urlSrv.URL}, nil, `get the subject token from URL ` + urlSrv.URL},
		{"missing file", map[string]any{"file": filepath.Join(t.TempDir(), "nope")}, nil, "file does not exist"},
		{"json field missing", map[string]any{"file": jsonFile, "format": map[string]any{"type": "json", "subject_token_field_name": "token"}}, nil, `no string field "token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := fileWith(t, base, func(m map[string]any) { m["credential_source"] = tt.source })
			c, err := FromFile(path, isolated(t, tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := c.AccessTokenSource(nil)
			got, err := tp.Token(context.Background())
			if tt.want != "" {
				wantErrContains(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sub := tokenInfo(t, f, got.Value)["sub"]; sub != poolPrincipal+"workload-a" {
				t.Errorf("token for %v; want %s", sub, poolPrincipal+"workload-a")
			}
		})
	}
}

// script writes an executable shell script. Windows has no sh (and under
// Wine the test binary cannot run Linux programs), so tests using one skip
// there; the executable source itself is plain os/exec.
func script(t *testing.T, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("not on Windows: runs sh scripts as executable credential sources")
	}
	p := filepath.Join(t.TempDir(), "cred.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExternalAccountExecutable(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	tok, err := f.MintOIDCSubjectToken("exec-workload", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	okJSON := fmt.Sprintf(`{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":%q,"expiration_time":%d}`, tok, exp)
	base, _ := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: "unused"})
	outFile := filepath.Join(t.TempDir(), "out.json")
	allowed := map[string]string{"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"}
	tests := []struct {
		name string
		exec map[string]any
		env  map[string]string
		want string
	}{
		{"prints a token", map[string]any{"command": script(t, "echo '"+okJSON+"'")}, allowed, ""},
		{"sees the audience", map[string]any{"command": script(t, `[ "$GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE" = "`+fakegoogle.DefaultOIDCAudience+`" ] && echo '`+okJSON+`'`)}, allowed, ""},
		{"output file cache", map[string]any{"command": script(t, "exit 7"), "output_file": writeFile(t, "cache.json", []byte(okJSON))}, allowed, ""},
		{"not allowed", map[string]any{"command": script(t, "echo '"+okJSON+"'")}, nil, "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1"},
		{"garbage", map[string]any{"command": script(t, "echo hello")}, allowed, "not the JSON response"},
		{"exits 3", map[string]any{"command": script(t, `echo '{"version":1,"success":false,"code":"401","message":"no session"}'; exit 3`)}, allowed, "exited with status 3: 401: no session"},
		{"reports failure", map[string]any{"command": script(t, `echo '{"version":1,"success":false,"code":"E","message":"denied"}'`)}, allowed, "reported failure E: denied"},
		{"no expiration with output_file", map[string]any{"command": script(t, `echo '{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"x"}'`), "output_file": outFile}, allowed, "expiration_time"},
		{"times out", map[string]any{"command": script(t, "sleep 30"), "timeout_millis": 5000}, allowed, "timed out after 5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := fileWith(t, base, func(m map[string]any) { m["credential_source"] = map[string]any{"executable": tt.exec} })
			c, err := FromFile(path, isolated(t, tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := c.AccessTokenSource(nil)
			start := time.Now()
			got, err := tp.Token(context.Background())
			if tt.want != "" {
				wantErrContains(t, err, "get the subject token from executable", tt.want)
				if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
					t.Errorf("errors.Is(ErrInvalidCredentials) = false for %v", err)
				}
				if time.Since(start) > 10*time.Second {
					t.Errorf("took %v", time.Since(start))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sub := tokenInfo(t, f, got.Value)["sub"]; sub != poolPrincipal+"exec-workload" {
				t.Errorf("token for %v", sub)
			}
		})
	}
}

func TestExternalAccountErrors(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	aws, _ := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{AWS: true})
	noIMDS := func(m map[string]any) {
		cs := m["credential_source"].(map[string]any)
		delete(cs, "url")
		delete(cs, "region_url")
	}
	tests := []struct {
		name  string
		edit  func(map[string]any)
		env   map[string]string
		parts []string
	}{
		{"no AWS credentials", noIMDS, map[string]string{"AWS_REGION": "us-east-2"}, []string{"get the subject token from AWS", "no AWS credentials", "AWS_ACCESS_KEY_ID"}},
		{"half the AWS key", nil, map[string]string{"AWS_ACCESS_KEY_ID": "AKIA"}, []string{"AWS_SECRET_ACCESS_KEY is not"}},
		{"zone as region", nil, map[string]string{"AWS_REGION": "us-east-2b"}, []string{`the AWS region "us-east-2b" (from AWS_REGION)`}},
		{"no region", noIMDS, map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, []string{"no AWS region"}},
		{"IMDS unreachable", func(m map[string]any) {
			m["credential_source"].(map[string]any)["url"] = strings.TrimSuffix(closedURL(t), "/token")
		}, map[string]string{"AWS_REGION": "us-east-2"}, []string{"read the AWS role name from http://"}},
		{"wrong secret", nil, map[string]string{"AWS_ACCESS_KEY_ID": awsEnv(f)["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_REGION": "us-east-2"},
			[]string{"STS token exchange from " + f.STSURL(), "invalid_grant", "signature does not match"}},
		{"unknown provider", func(m map[string]any) {
			m["audience"] = strings.Replace(fakegoogle.DefaultAWSAudience, "fake-aws", "gone", 1)
		}, awsEnv(f), []string{"STS token exchange", "invalid_target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromFile(fileWith(t, aws, tt.edit), isolated(t, tt.env))
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := c.AccessTokenSource(nil)
			_, err = tp.Token(context.Background())
			wantErrContains(t, err, tt.parts...)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
}

func TestExternalAccountFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, json string
		parts      []string
	}{
		{"no audience", `{"type":"external_account","subject_token_type":"x","credential_source":{"file":"f"}}`, []string{"audience: missing"}},
		{"no source", `{"type":"external_account","audience":"a","subject_token_type":"x"}`, []string{"credential_source: missing"}},
		{"two sources", `{"type":"external_account","audience":"a","subject_token_type":"x","credential_source":{"file":"f","executable":{"command":"c"}}}`, []string{"file and executable"}},
		{"aws2", `{"type":"external_account","audience":"a","subject_token_type":"x","credential_source":{"environment_id":"aws2"}}`, []string{`AWS version "2"`}},
		{"json without field", `{"type":"external_account","audience":"a","subject_token_type":"x","credential_source":{"file":"f","format":{"type":"json"}}}`, []string{"subject_token_field_name"}},
		{"timeout too short", `{"type":"external_account","audience":"a","subject_token_type":"x","credential_source":{"executable":{"command":"c","timeout_millis":10}}}`, []string{"timeout_millis: 10 is outside"}},
		{"user project on workload pool", `{"type":"external_account","audience":"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q","subject_token_type":"x","workforce_pool_user_project":"p","credential_source":{"file":"f"}}`, []string{"workforce_pool_user_project"}},
		{"bad impersonation url", `{"type":"external_account","audience":"a","subject_token_type":"x","service_account_impersonation_url":"https://x/y","credential_source":{"file":"f"}}`, []string{"service_account_impersonation_url"}},
		{"lifetime too long", `{"type":"external_account","audience":"a","subject_token_type":"x","service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken","service_account_impersonation":{"token_lifetime_seconds":99999},"credential_source":{"file":"f"}}`, []string{"token_lifetime_seconds: 99999"}},
		{"certificate", `{"type":"external_account","audience":"a","subject_token_type":"x","credential_source":{"certificate":{"use_default_certificate_config":true}}}`, []string{"not supported"}},
		{"workforce user without secret", `{"type":"external_account_authorized_user","refresh_token":"r","token_url":"https://sts.googleapis.com/v1/oauthtoken","client_id":"c"}`, []string{"client_secret: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := FromJSON([]byte(tt.json), isolated(t, nil))
			wantErrContains(t, err, tt.parts...)
			if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
				t.Errorf("errors.Is(ErrInvalidCredentials) = false for %v", err)
			}
		})
	}
}

func TestExternalAccountIdentity(t *testing.T) {
	t.Parallel()
	mk := func(aud, file string) string {
		c, err := FromJSON([]byte(fmt.Sprintf(`{"type":"external_account","audience":%q,"subject_token_type":"urn:ietf:params:oauth:token-type:jwt","credential_source":{"file":%q}}`, aud, file)), isolated(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		return c.Identity()
	}
	a, b, c := mk("//aud/1", "f1"), mk("//aud/2", "f1"), mk("//aud/1", "f2")
	if a == b || a == c || b == c {
		t.Errorf("identities collide: %q %q %q", a, b, c)
	}
	if a != mk("//aud/1", "f1") {
		t.Error("identity is not stable")
	}
}

func TestExternalAccountAuthorizedUser(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	rt, err := f.IssueWorkforceRefreshToken(fakegoogle.DefaultWorkforceClientID, fakegoogle.DefaultWorkforceAudience, "carol")
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.ExternalAccountAuthorizedUserJSON(rt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromJSON(data, isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := c.AccessTokenSource(nil)
	tok, err := tp.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "principal://iam.googleapis.com/locations/global/workforcePools/" + fakegoogle.DefaultWorkforcePool + "/subject/carol"
	if sub := tokenInfo(t, f, tok.Value)["sub"]; sub != want {
		t.Errorf("sub %v; want %s", sub, want)
	}
	if _, err := c.IDTokenSource("aud", nil); err == nil {
		t.Error("workforce user credentials made an ID token provider")
	}
	f.RevokeToken(rt) // unknown to the normal registry: no effect
	bad := strings.Replace(string(data), rt, "1//revoked", 1)
	c2, err := FromJSON([]byte(bad), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	tp2, _ := c2.AccessTokenSource(nil)
	_, err = tp2.Token(context.Background())
	wantErrContains(t, err, "invalid_grant")
	if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("errors.Is(ErrInvalidCredentials) = false for %v", err)
	}
}

func TestExternalAccountWorkforce(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	tok, err := f.MintOIDCSubjectToken("dave", "https:"+fakegoogle.DefaultWorkforceAudience, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := writeFile(t, "wf.jwt", []byte(tok))
	base := map[string]any{
		"type": "external_account", "audience": fakegoogle.DefaultWorkforceAudience,
		"subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "token_url": f.STSURL(),
		"credential_source": map[string]any{"file": tokFile},
	}
	with := func(extra map[string]any) []byte {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	want := "principal://iam.googleapis.com/locations/global/workforcePools/" + fakegoogle.DefaultWorkforcePool + "/subject/dave"
	tests := []struct {
		name  string
		extra map[string]any
		err   string
	}{
		{"user project", map[string]any{"workforce_pool_user_project": "fake-project"}, ""},
		{"client (Basic)", map[string]any{"client_id": fakegoogle.DefaultWorkforceClientID, "client_secret": fakegoogle.DefaultWorkforceClientSecret}, ""},
		{"wrong client secret", map[string]any{"client_id": fakegoogle.DefaultWorkforceClientID, "client_secret": "nope"}, "invalid_client"},
		{"neither", nil, "workforce pool exchange needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromJSON(with(tt.extra), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, _ := c.AccessTokenSource(nil)
			got, err := tp.Token(context.Background())
			if tt.err != "" {
				wantErrContains(t, err, "STS token exchange", tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sub := tokenInfo(t, f, got.Value)["sub"]; sub != want {
				t.Errorf("sub %v; want %s", sub, want)
			}
		})
	}
}
