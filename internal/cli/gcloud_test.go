package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/credentials/gcloudstore/gcloudtest"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

const gcloudLoginUser = "gcloud-login@example.com"

// gcloudEnv makes a gcloud configuration directory with the real gcloud (a
// service account activated with its key, then a user signed in through
// the browser sign-in, the active account) and returns an environment in
// which those are the only credentials: no ADC file, no
// GOOGLE_APPLICATION_CREDENTIALS. GCPTOKEN_EMULATOR_HOST sends the stored
// credentials' Google URLs to the fake.
func gcloudEnv(t *testing.T) (env, *gcloudtest.Gcloud) {
	t.Helper()
	f := ownFake(t)
	g := gcloudtest.New(t, f)
	g.ActivateServiceAccount(t, fakegoogle.DefaultServiceAccount)
	g.Login(t, gcloudLoginUser)
	e := newEnv(t)
	e["CLOUDSDK_CONFIG"] = g.Dir
	e["GCPTOKEN_EMULATOR_HOST"] = g.EmulatorHost()
	return e, g
}

// tokenJSONOf runs a print command with --format json.
func tokenJSONOf(t *testing.T, e env, args ...string) tokenJSON {
	t.Helper()
	r := run(t, e, "", append(args, "--format", "json")...)
	wantCode(t, r, 0)
	var doc tokenJSON
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v: %q: %v", args, r.stdout, err)
	}
	return doc
}

// fakeTokenInfo is the fake's tokeninfo of an access token.
func fakeTokenInfo(t *testing.T, f *fakegoogle.Running, tok string) (email, azp string) {
	t.Helper()
	resp, err := http.PostForm(f.URL+"/tokeninfo", url.Values{"access_token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ Email, Azp string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo: HTTP %d, %v", resp.StatusCode, err)
	}
	return info.Email, info.Azp
}

// TestGcloudAccounts: with only `gcloud auth login`-style credentials,
// print-access-token, print-identity-token and curl work and name the
// account; --account picks another; explain and status show them; and
// gcloud's files are left as they were (tokens go to gcptoken's cache).
func TestGcloudAccounts(t *testing.T) {
	e, g := gcloudEnv(t)
	before := g.Snapshot(t)

	doc := tokenJSONOf(t, e, "print-access-token")
	if doc.CredentialType != "authorized_user" || doc.Principal != gcloudLoginUser {
		t.Errorf("got %s %s; want the signed-in user's authorized_user credentials", doc.CredentialType, doc.Principal)
	}
	if email, _ := fakeTokenInfo(t, g.Fake, doc.Token); email != gcloudLoginUser {
		t.Errorf("the fake says the token is %q's; want %q's", email, gcloudLoginUser)
	}

	id := tokenJSONOf(t, e, "print-identity-token", "--audience", g.Fake.SampleServiceURL())
	d, err := jwtinfo.Decode(id.Token)
	if err != nil {
		t.Fatal(err)
	}
	if d.Claims["email"] != gcloudLoginUser || d.Claims["aud"] != gcloudtest.ClientID {
		t.Errorf("ID token claims email %v, aud %v; want %s and gcloud's client", d.Claims["email"], d.Claims["aud"], gcloudLoginUser)
	}

	r := run(t, e, "", "curl", g.Fake.URL+"/oauth2/v3/userinfo")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, `"email":"`+gcloudLoginUser+`"`) && !strings.Contains(r.stdout, `"email": "`+gcloudLoginUser+`"`) {
		t.Errorf("curl userinfo = %s; want the user's email", r.stdout)
	}

	sa := tokenJSONOf(t, e, "print-access-token", "--account", fakegoogle.DefaultServiceAccount, "--scopes", "cloud-platform,userinfo.email")
	if sa.CredentialType != "service_account" || sa.Principal != fakegoogle.DefaultServiceAccount {
		t.Errorf("--account: got %s %s; want the service account", sa.CredentialType, sa.Principal)
	}
	if email, _ := fakeTokenInfo(t, g.Fake, sa.Token); email != fakegoogle.DefaultServiceAccount {
		t.Errorf("--account: the fake says the token is %q's", email)
	}

	r = run(t, e, "", "explain")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "4. gcloud accounts                  USED    account "+gcloudLoginUser+` (core/account in configuration "default"`) {
		t.Errorf("explain does not show the gcloud step used:\n%s", r.stdout)
	}

	r = run(t, e, "", "status")
	wantCode(t, r, 0)
	for _, want := range []string{
		"authorized_user " + gcloudLoginUser + " (gcloud accounts)",
		"* " + gcloudLoginUser,
		"  " + fakegoogle.DefaultServiceAccount,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	if after := g.Snapshot(t); after != before {
		t.Errorf("gcptoken changed gcloud's directory:\n%s\nwant\n%s", after, before)
	}
}

// TestGcloudAccountsMatchGcloud: for each account, gcptoken's token and
// `gcloud auth print-access-token`'s are the same principal's at the
// fake's tokeninfo (gcloud may serve its cached token; gcptoken mints its
// own).
func TestGcloudAccountsMatchGcloud(t *testing.T) {
	e, g := gcloudEnv(t)
	for _, account := range []string{gcloudLoginUser, fakegoogle.DefaultServiceAccount} {
		// gcloud asks for its own scope set (core/config.py CLOUDSDK_SCOPES),
		// with userinfo.email: tokeninfo names the account only then.
		ours := tokenJSONOf(t, e, "print-access-token", "--account", account, "--scopes", "cloud-platform,userinfo.email")
		theirs := g.Run(t, "auth", "print-access-token", account)
		if ours.Token == theirs {
			t.Errorf("%s: gcptoken printed gcloud's own cached token", account)
		}
		oursEmail, oursAzp := fakeTokenInfo(t, g.Fake, ours.Token)
		theirsEmail, theirsAzp := fakeTokenInfo(t, g.Fake, theirs)
		if oursEmail != account || oursEmail != theirsEmail || oursAzp != theirsAzp {
			t.Errorf("%s: gcptoken's token is %s (azp %s), gcloud's %s (azp %s); want the same principal",
				account, oursEmail, oursAzp, theirsEmail, theirsAzp)
		}
	}
}

// TestGcloudImpersonation: gcloud's auth/impersonate_service_account
// applies to its accounts; gcptoken's flag replaces it, and gcloud's
// variable is applied once, not twice.
func TestGcloudImpersonation(t *testing.T) {
	e, g := gcloudEnv(t)
	if err := g.Fake.GrantTokenCreator(gcloudLoginUser, fakegoogle.DefaultTargetServiceAccount); err != nil {
		t.Fatal(err)
	}
	g.Run(t, "config", "set", "auth/impersonate_service_account", fakegoogle.DefaultTargetServiceAccount)
	doc := tokenJSONOf(t, e, "print-access-token")
	if doc.CredentialType != "impersonated_service_account" || doc.Principal != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("with gcloud's property: got %s %s; want the impersonated target", doc.CredentialType, doc.Principal)
	}
	if _, azp := fakeTokenInfo(t, g.Fake, doc.Token); azp == "" {
		t.Error("the fake does not know the impersonated token")
	}

	e["CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT"] = fakegoogle.DefaultTargetServiceAccount
	doc = tokenJSONOf(t, e, "print-access-token", "--no-cache")
	if doc.Principal != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("with gcloud's variable too: got %s; want the target once", doc.Principal)
	}
	delete(e, "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT")

	r := run(t, e, "", "explain", "--impersonate-service-account", fakegoogle.DefaultServiceAccount)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "principal:       "+fakegoogle.DefaultServiceAccount) {
		t.Errorf("the flag does not replace gcloud's property:\n%s", r.stdout)
	}
}

// TestGcloudCredentialFileOverride: with gcloud's
// auth/credential_file_override set, gcloud uses that file instead of its
// accounts, and so does gcptoken's gcloud step: both tokens are the file's
// service account's, and explain says why.
func TestGcloudCredentialFileOverride(t *testing.T) {
	e, g := gcloudEnv(t)
	key, err := g.Fake.ServiceAccountKeyJSON(fakegoogle.DefaultTargetServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	if key, err = googlehosts.GoogleURLs(key, g.Fake.URL); err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, "override.json", key)
	g.Run(t, "config", "set", "auth/credential_file_override", keyFile)

	ours := tokenJSONOf(t, e, "print-access-token", "--scopes", "cloud-platform,userinfo.email")
	if ours.CredentialType != "service_account" || ours.Principal != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("got %s %s; want the override's service account", ours.CredentialType, ours.Principal)
	}
	theirs := g.Run(t, "auth", "print-access-token")
	oursEmail, oursAzp := fakeTokenInfo(t, g.Fake, ours.Token)
	theirsEmail, theirsAzp := fakeTokenInfo(t, g.Fake, theirs)
	if oursEmail != fakegoogle.DefaultTargetServiceAccount || oursEmail != theirsEmail || oursAzp != theirsAzp {
		t.Errorf("gcptoken's token is %s (azp %s), gcloud's %s (azp %s); want both the override's", oursEmail, oursAzp, theirsEmail, theirsAzp)
	}
	r := run(t, e, "", "explain")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "credential file "+keyFile+` (auth/credential_file_override in configuration "default"), which gcloud uses instead of any account`) {
		t.Errorf("explain does not show the override:\n%s", r.stdout)
	}
}

func TestGcloudAccountErrors(t *testing.T) {
	e, g := gcloudEnv(t)
	r := run(t, e, "", "print-access-token", "--account", "nobody@example.com")
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "--account", `gcloud account "nobody@example.com"`, "not in "+filepath.Join(g.Dir, "credentials.db"),
		gcloudLoginUser, "gcloud auth login nobody@example.com")

	r = run(t, e, "", "print-access-token", "--account", gcloudLoginUser, "--credentials", "key.json")
	wantCode(t, r, ExitUsage)
	wantOneLineError(t, r, "--account and --credentials")

	// No account and no store: the search goes past gcloud and says why.
	e2 := newEnv(t)
	e2["CLOUDSDK_CONFIG"] = t.TempDir()
	e2["NO_GCE_CHECK"] = "true"
	r = run(t, e2, "", "print-access-token")
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "gcloud accounts: no active account in", "gcloud auth login")
}
