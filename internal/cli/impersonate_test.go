package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

func TestImpersonation(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	e["GCPTOKEN_TOKENINFO_URL"] = f.URL + "/tokeninfo"
	e["GCPTOKEN_IAM_ENDPOINT"] = f.IAMCredentialsURL()
	key := saKeyFile(t, f)
	target := fakegoogle.DefaultTargetServiceAccount

	r := run(t, e, "", "print-access-token", "--credentials", key, "--impersonate-service-account", target, "--scopes", "cloud-platform,userinfo.email")
	wantCode(t, r, 0)
	info := run(t, e, "", "info", strings.TrimSpace(r.stdout))
	wantCode(t, info, 0)
	if !strings.Contains(info.stdout, target) {
		t.Errorf("tokeninfo of the impersonated token does not name %s:\n%s", target, info.stdout)
	}

	r = run(t, e, "", "print-identity-token", "--credentials", key, "--impersonate-service-account", target,
		"--audience", f.SampleServiceURL(), "--include-email")
	wantCode(t, r, 0)
	d, err := jwtinfo.Decode(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if d.Claims["email"] != target || d.Claims["aud"] != f.SampleServiceURL() {
		t.Errorf("impersonated ID token claims: email %v aud %v; want %s and the sample URL", d.Claims["email"], d.Claims["aud"], target)
	}

	// gcloud's variable works like the flag.
	e2 := newEnv(t)
	e2["GCPTOKEN_IAM_ENDPOINT"] = f.IAMCredentialsURL()
	e2["CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"] = target
	r = run(t, e2, "", "print-access-token", "--credentials", key, "--format", "json")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, `"principal": "`+target+`"`) {
		t.Errorf("CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT was not honoured:\n%s", r.stdout)
	}

	// An impersonated_service_account file.
	src, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	file, err := f.ImpersonatedServiceAccountJSON(src, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	r = run(t, newEnv(t), "", "print-access-token", "--credentials", writeFile(t, "imp.json", file), "--format", "json")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, `"credential_type": "impersonated_service_account"`) {
		t.Errorf("impersonated file: %s", r.stdout)
	}
}

func TestImpersonationErrors(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	user, _ := userFile(t, f)
	target := fakegoogle.DefaultTargetServiceAccount
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		fragments []string
	}{
		{"chain with a missing grant names the hop", []string{"print-access-token", "--credentials", key, "--no-cache",
			"--impersonate-service-account", target + "," + fakegoogle.DefaultServiceAccount}, ExitCredentials,
			[]string{"PERMISSION_DENIED", "iam.serviceAccounts."}},
		{"unknown target", []string{"print-access-token", "--credentials", key, "--no-cache",
			"--impersonate-service-account", "nobody@fake-project.iam.gserviceaccount.com"}, ExitCredentials, []string{"nobody@"}},
		{"lifetime over an hour without the policy", []string{"print-access-token", "--credentials", key, "--no-cache",
			"--impersonate-service-account", target, "--lifetime", "2h"}, ExitCredentials, []string{"1 hour"}},
		{"lifetime over 12 hours", []string{"print-access-token", "--credentials", key,
			"--impersonate-service-account", target, "--lifetime", "13h"}, ExitUsage, []string{"--lifetime 13h: longer than the IAM Credentials API's maximum of 12h"}},
		{"lifetime without impersonation", []string{"print-access-token", "--credentials", key, "--lifetime", "30m"}, ExitUsage, []string{"--lifetime"}},
		{"empty name in the chain", []string{"print-access-token", "--credentials", key, "--impersonate-service-account", "a@b.c,,d@e.f"}, ExitUsage, []string{"empty"}},
		{"subject with user credentials", []string{"print-access-token", "--credentials", user, "--subject", "u@example.com"}, ExitUsage, []string{"--subject"}},
		{"subject not allowed for DWD", []string{"print-access-token", "--credentials", key, "--no-cache", "--subject", fakegoogle.DefaultUser}, ExitCredentials, []string{"unauthorized_client"}},
		{"self-signed without audience or scopes", []string{"print-access-token", "--credentials", key, "--self-signed"}, ExitUsage, []string{"--self-signed"}},
		{"audience without self-signed", []string{"print-access-token", "--credentials", key, "--audience", "https://x"}, ExitUsage, []string{"--audience"}},
		{"self-signed with user credentials", []string{"print-access-token", "--credentials", user, "--self-signed", "--scopes", "cloud-platform"}, ExitUsage, []string{"--self-signed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e["GCPTOKEN_IAM_ENDPOINT"] = f.IAMCredentialsURL()
			r := run(t, e, "", tt.args...)
			wantCode(t, r, tt.wantCode)
			wantOneLineError(t, r, tt.fragments...)
		})
	}
}

func TestDomainWideDelegationAndSelfSignedJWT(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	if err := f.AllowDomainWideDelegation(fakegoogle.DefaultServiceAccount, []string{"https://www.googleapis.com/auth/userinfo.email"}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e["GCPTOKEN_TOKENINFO_URL"] = f.URL + "/tokeninfo"
	key := saKeyFile(t, f)
	r := run(t, e, "", "print-access-token", "--credentials", key, "--subject", fakegoogle.DefaultUser, "--scopes", "userinfo.email")
	wantCode(t, r, 0)
	info := run(t, e, "", "info", strings.TrimSpace(r.stdout))
	wantCode(t, info, 0)
	if !strings.Contains(info.stdout, fakegoogle.DefaultUser) {
		t.Errorf("the delegated token does not act as %s:\n%s", fakegoogle.DefaultUser, info.stdout)
	}

	before := f.RequestCount("/token")
	r = run(t, e, "", "print-access-token", "--credentials", key, "--self-signed", "--audience", "https://pubsub.googleapis.com/")
	wantCode(t, r, 0)
	d, err := jwtinfo.Decode(strings.TrimSpace(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if d.Claims["iss"] != fakegoogle.DefaultServiceAccount || d.Claims["aud"] != "https://pubsub.googleapis.com/" {
		t.Errorf("self-signed JWT claims: iss %v aud %v", d.Claims["iss"], d.Claims["aud"])
	}
	if f.RequestCount("/token") != before {
		t.Error("a self-signed JWT made a token request")
	}
}

func TestEmulatorIAMFlags(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir() + "/state"
	target := fakegoogle.DefaultTargetServiceAccount
	base, stop := startEmulatorWith(t, stateDir,
		"--lifetime-extension", target,
		"--token-creator", fakegoogle.DefaultServiceAccount+"="+fakegoogle.DefaultServiceAccount)
	e := newEnv(t)
	e["GCPTOKEN_IAM_ENDPOINT"] = base
	key := stateDir + "/service-account.json"
	// The policy allows more than an hour for the target…
	r := run(t, e, "", "print-access-token", "--credentials", key, "--no-cache",
		"--impersonate-service-account", target, "--lifetime", "3h", "--format", "json")
	wantCode(t, r, 0)
	// …and the service account may now sign as itself, so DWD through
	// signJwt reaches the token endpoint, which refuses the unlisted subject.
	r = run(t, e, "", "print-access-token", "--credentials", key, "--no-cache",
		"--impersonate-service-account", fakegoogle.DefaultServiceAccount, "--subject", fakegoogle.DefaultUser)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "unauthorized_client")
	stop()

	// Grants persist in the state directory.
	base2, _ := startEmulatorWith(t, stateDir)
	e["GCPTOKEN_IAM_ENDPOINT"] = base2
	key2 := writeFile(t, "key.json", []byte(strings.ReplaceAll(readFile(t, key), base, base2)))
	r = run(t, e, "", "print-access-token", "--credentials", key2, "--no-cache",
		"--impersonate-service-account", target, "--lifetime", "3h")
	wantCode(t, r, 0)
}

func TestEmulatorRevokeTokenCreator(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir() + "/state"
	target := fakegoogle.DefaultTargetServiceAccount
	base, _ := startEmulatorWith(t, stateDir, "--revoke-token-creator", fakegoogle.DefaultServiceAccount+"="+target)
	e := newEnv(t)
	e["GCPTOKEN_IAM_ENDPOINT"] = base
	r := run(t, e, "", "print-access-token", "--credentials", stateDir+"/service-account.json", "--no-cache",
		"--impersonate-service-account", target)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "PERMISSION_DENIED")
}

func TestEmulatorIAMFlagErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--token-creator", "no-equals-sign"},
		{"--token-creator", "a@b.c=nobody@fake-project.iam.gserviceaccount.com"},
		{"--lifetime-extension", "nobody@fake-project.iam.gserviceaccount.com"},
		{"--domain-delegation", fakegoogle.DefaultServiceAccount},
		{"--revoke-token-creator", "a@b.c=" + fakegoogle.DefaultTargetServiceAccount},
	} {
		r := run(t, newEnv(t), "", append([]string{"emulator", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir()}, args...)...)
		wantCode(t, r, ExitUsage)
		wantOneLineError(t, r, args[0])
	}
}

func TestSubjectWithoutSignJwtRight(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	e["GCPTOKEN_IAM_ENDPOINT"] = f.IAMCredentialsURL()
	// No one holds Token Creator on themselves: signJwt as the service
	// account itself is refused.
	r := run(t, e, "", "print-access-token", "--credentials", saKeyFile(t, f), "--no-cache",
		"--impersonate-service-account", fakegoogle.DefaultServiceAccount, "--subject", fakegoogle.DefaultUser)
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "PERMISSION_DENIED", "signJwt")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
