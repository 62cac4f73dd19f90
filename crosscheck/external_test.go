package crosscheck_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Workload identity federation: Google's clients obtain tokens through the
// fake's STS from the same external_account files gcptoken reads. The AWS
// files make each library sign its own GetCallerIdentity request, which the
// fake verifies by recomputing the SigV4 signature: a client whose
// signature, headers or serialization were off would get invalid_grant.

// fedFiles are the external_account files of one test.
type fedFiles struct {
	awsIMDS, awsEnv, awsImpersonate, oidcFile string
	workforceUser                             string   // external_account_authorized_user
	env                                       []string // AWS_* for awsEnv
}

func newFedFiles(t *testing.T, f *fixture) fedFiles {
	t.Helper()
	fake := f.fake
	mk := func(name string, c fakegoogle.ExternalAccountConfig) string {
		data, err := fake.ExternalAccountJSON(c)
		if err != nil {
			t.Fatal(err)
		}
		return f.write(t, name, data)
	}
	tok, err := fake.MintOIDCSubjectToken("crosscheck-workload", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := f.write(t, "oidc-token.jwt", []byte(tok))
	// A workforce user signed in with gcloud (`auth login --login-config`):
	// refreshed at STS /v1/oauthtoken with the workforce client's Basic auth.
	rt, err := fake.IssueWorkforceRefreshToken(fakegoogle.DefaultWorkforceClientID, fakegoogle.DefaultWorkforceAudience, "crosscheck-user")
	if err != nil {
		t.Fatal(err)
	}
	userJSON, err := fake.ExternalAccountAuthorizedUserJSON(rt)
	if err != nil {
		t.Fatal(err)
	}
	return fedFiles{
		workforceUser:  f.write(t, "workforce-user.json", userJSON),
		awsIMDS:        mk("aws-imds.json", fakegoogle.ExternalAccountConfig{AWS: true, IMDSv2: true}),
		awsEnv:         mk("aws-env.json", fakegoogle.ExternalAccountConfig{AWS: true}),
		awsImpersonate: mk("aws-imp.json", fakegoogle.ExternalAccountConfig{AWS: true, ServiceAccount: fakegoogle.DefaultTargetServiceAccount}),
		oidcFile:       mk("oidc-file.json", fakegoogle.ExternalAccountConfig{SubjectTokenFile: tokFile}),
		env:            fake.AWSEnv(),
	}
}

// fedCase is one file a peer loads, and who its token must be for.
type fedCase struct {
	Name   string   `json:"name"`
	File   string   `json:"file"`
	Scopes []string `json:"scopes"`
	want   string   // tokeninfo sub prefix, or email for impersonation
}

func (ff fedFiles) cases() []fedCase {
	pool := "principal://iam.googleapis.com/projects/" + fakegoogle.DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + fakegoogle.DefaultWorkloadPool + "/subject/"
	sc := []string{scopeCloudPlatform}
	return []fedCase{
		{"aws_imdsv2", ff.awsIMDS, sc, pool + "arn:aws:sts::" + fakegoogle.FakeAWSAccountID + ":assumed-role/"},
		{"oidc_file", ff.oidcFile, sc, pool + "crosscheck-workload"},
		{"aws_impersonated", ff.awsImpersonate, []string{scopeCloudPlatform, scopeEmail}, fakegoogle.DefaultTargetServiceAccount},
		{"workforce_user", ff.workforceUser, sc, "principal://iam.googleapis.com/locations/global/workforcePools/" +
			fakegoogle.DefaultWorkforcePool + "/subject/crosscheck-user"},
	}
}

// stsCalls counts the fake's STS token requests: exchanges and workforce
// refreshes.
func stsCalls(f *fixture) int {
	return f.fake.RequestCount("/v1/token") + f.fake.RequestCount("/v1/oauthtoken")
}

// checkFederatedToken asks the fake's tokeninfo who tok is for.
func checkFederatedToken(t *testing.T, f *fixture, c fedCase, tok string) {
	t.Helper()
	info := tokeninfo(t, f, tok)
	got := info["sub"]
	if strings.Contains(c.want, "@") {
		got = info["email"]
	}
	if !strings.HasPrefix(got, c.want) {
		t.Errorf("%s: token is for %q; want %q", c.Name, got, c.want)
	}
}

func TestGoCloudAuthExternalAccount(t *testing.T) {
	ctx := goLibContext(t)
	f := newFixture(t)
	ff := newFedFiles(t, f)
	for _, c := range ff.cases() {
		t.Run(c.Name, func(t *testing.T) {
			creds, err := credentials.DetectDefault(&credentials.DetectOptions{CredentialsFile: c.File, Scopes: c.Scopes})
			if err != nil {
				t.Fatalf("DetectDefault: %v", err)
			}
			tok, err := creds.Token(ctx)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			checkFederatedToken(t, f, c, tok.Value)
			checkExpiry(t, c.Name, tok.Expiry)
		})
	}
	t.Run("aws_env", func(t *testing.T) {
		for _, kv := range ff.env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v) // the library reads os.Getenv
		}
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{CredentialsFile: ff.awsEnv, Scopes: []string{scopeCloudPlatform}})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := creds.Token(context.Background())
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		checkFederatedToken(t, f, fedCase{Name: "aws_env", want: "principal://"}, tok.Value)
		if sub := tokeninfo(t, f, tok.Value)["sub"]; !strings.HasSuffix(sub, ":user/"+fakegoogle.FakeAWSUser) {
			t.Errorf("sub %q; want the IAM user of the environment's key", sub)
		}
	})
}

func TestPythonGoogleAuthExternalAccount(t *testing.T) {
	p := requirePeer(t, pythonPeer())
	f := newFixture(t)
	ff := newFedFiles(t, f)
	type result struct {
		Cases map[string]struct {
			Token, Expiry, Class string
		}
	}
	// The AWS_* variables would win over instance metadata: the
	// environment-key case runs in a process of its own.
	runs := []struct {
		cases []fedCase
		env   []string
	}{
		{ff.cases(), nil},
		{[]fedCase{{"aws_env", ff.awsEnv, []string{scopeCloudPlatform}, "principal://"}}, ff.env},
	}
	for _, r := range runs {
		before := stsCalls(f)
		out := decode[result](t, runPython(t, f, p, "external_account.py", map[string]any{"cases": r.cases}, r.env...))
		if got := stsCalls(f) - before; got != len(r.cases) {
			t.Errorf("the fake's STS saw %d token requests; want %d", got, len(r.cases))
		}
		for _, c := range r.cases {
			got := out.Cases[c.Name]
			if got.Token == "" {
				t.Errorf("%s: no token (%+v)", c.Name, got)
				continue
			}
			checkFederatedToken(t, f, c, got.Token)
			checkExpiry(t, c.Name, parseRFC3339(t, c.Name, got.Expiry))
			wantClass := "google.auth.identity_pool.Credentials"
			switch {
			case strings.HasPrefix(c.Name, "aws"):
				wantClass = "google.auth.aws.Credentials"
			case strings.HasPrefix(c.Name, "workforce"):
				wantClass = "google.auth.external_account_authorized_user.Credentials"
			}
			if got.Class != wantClass {
				t.Errorf("%s: loaded as %s; want %s", c.Name, got.Class, wantClass)
			}
		}
	}
}

func TestNodeGoogleAuthLibraryExternalAccount(t *testing.T) {
	p := requirePeer(t, nodePeer())
	f := newFixture(t)
	ff := newFedFiles(t, f)
	type result struct {
		Cases map[string]struct {
			Token      string
			ExpiryDate int64 `json:"expiry_date"`
			Class      string
		}
	}
	runs := []struct {
		cases []fedCase
		env   []string
	}{
		{ff.cases(), nil},
		{[]fedCase{{"aws_env", ff.awsEnv, []string{scopeCloudPlatform}, "principal://"}}, ff.env},
	}
	for _, r := range runs {
		out := decode[result](t, run(t, "node", peerEnv(f.dir, r.env...), map[string]any{"base": f.fake.URL, "cases": r.cases}, p.path, "external_account.js"))
		for _, c := range r.cases {
			got := out.Cases[c.Name]
			if got.Token == "" {
				t.Errorf("%s: no token (%+v)", c.Name, got)
				continue
			}
			checkFederatedToken(t, f, c, got.Token)
			checkExpiry(t, c.Name, time.UnixMilli(got.ExpiryDate))
		}
	}
}

// tokeninfo returns the fake's tokeninfo for an access token.
func tokeninfo(t *testing.T, f *fixture, tok string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.fake.URL+"/oauth2/v3/tokeninfo?access_token="+url.QueryEscape(tok), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("tokeninfo: %v", err)
	}
	defer resp.Body.Close()
	var info map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo: status %d, decode error %v", resp.StatusCode, err)
	}
	return info
}
