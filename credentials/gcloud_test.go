package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// The gcloud step over a store in memory. The store's format is gcloud's
// own in the tests of credentials/gcloudstore and internal/cli, which run
// the real gcloud to make it.

// memStore is a GcloudStore over rows in memory; it records the paths
// asked for.
type memStore struct {
	rows []GcloudCredential
	err  error

	mu    sync.Mutex
	paths []string
}

func (m *memStore) GcloudCredentials(_ context.Context, path string) ([]GcloudCredential, error) {
	m.mu.Lock()
	m.paths = append(m.paths, path)
	m.mu.Unlock()
	return m.rows, m.err
}

const (
	gcloudUser = fakegoogle.DefaultUser
	gcloudSA   = fakegoogle.DefaultServiceAccount
)

// gcloudFixture is a fake Google, a gcloud configuration directory and a
// store holding a user account and a service account signed in there.
type gcloudFixture struct {
	fake  *fakegoogle.Running
	dir   string
	store *memStore
}

func newGcloudFixture(t *testing.T) *gcloudFixture {
	t.Helper()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rt, err := f.IssueRefreshToken(fakegoogle.DefaultClientID, gcloudUser, []string{"openid", "email", DefaultScope})
	if err != nil {
		t.Fatal(err)
	}
	user, err := f.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	key, err := f.ServiceAccountKeyJSON(gcloudSA)
	if err != nil {
		t.Fatal(err)
	}
	return &gcloudFixture{fake: f, dir: t.TempDir(), store: &memStore{rows: []GcloudCredential{
		{AccountID: gcloudUser, JSON: user},
		{AccountID: gcloudSA, JSON: key},
	}}}
}

// config writes the active configuration "default".
func (g *gcloudFixture) config(t *testing.T, props string) {
	t.Helper()
	writeFileAt(t, filepath.Join(g.dir, "configurations", "config_default"), []byte(props))
}

// opts are Options over the fixture's directory and store, with vars as
// the whole environment, no metadata server, and every Google endpoint the
// fake's.
func (g *gcloudFixture) opts(t *testing.T, vars map[string]string) *Options {
	e := map[string]string{"CLOUDSDK_CONFIG": g.dir, "NO_GCE_CHECK": "true",
		endpoints.EnvEmulatorHost: strings.TrimPrefix(g.fake.URL, "http://")}
	for k, v := range vars {
		e[k] = v
	}
	return &Options{Getenv: env(e), HomeDir: t.TempDir(), GcloudStore: g.store}
}

func TestDetectGcloud(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	g.config(t, "[core]\naccount = "+gcloudUser+"\nproject = my-project\n")
	db := filepath.Join(g.dir, "credentials.db")
	active := `core/account in configuration "default"`
	tests := []struct {
		name          string
		vars          map[string]string
		account       string // Options.GcloudAccount
		wantType      string
		wantPrincipal string
		wantQuota     string
		wantDetail    string
	}{
		{"the active account", nil, "", TypeAuthorizedUser, gcloudUser, "my-project",
			fmt.Sprintf("account %s (%s; %s) (authorized_user)", gcloudUser, active, db)},
		{"CLOUDSDK_CORE_ACCOUNT", map[string]string{"CLOUDSDK_CORE_ACCOUNT": gcloudSA}, "", TypeServiceAccount, gcloudSA, "",
			fmt.Sprintf("account %s (CLOUDSDK_CORE_ACCOUNT; %s) (service_account)", gcloudSA, db)},
		{"GcloudAccount", nil, gcloudSA, TypeServiceAccount, gcloudSA, "",
			fmt.Sprintf("account %s (named explicitly; %s) (service_account)", gcloudSA, db)},
		{"billing/quota_project", map[string]string{"CLOUDSDK_BILLING_QUOTA_PROJECT": "billed"}, "", TypeAuthorizedUser, gcloudUser, "billed",
			fmt.Sprintf("account %s (%s; %s) (authorized_user)", gcloudUser, active, db)},
		{"billing/quota_project LEGACY", map[string]string{"CLOUDSDK_BILLING_QUOTA_PROJECT": "LEGACY"}, "", TypeAuthorizedUser, gcloudUser, "",
			fmt.Sprintf("account %s (%s; %s) (authorized_user)", gcloudUser, active, db)},
		{"impersonation", map[string]string{"CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT": fakegoogle.DefaultTargetServiceAccount}, "",
			TypeImpersonatedServiceAccount, fakegoogle.DefaultTargetServiceAccount, "",
			fmt.Sprintf("account %s (%s; %s); impersonating %s (CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT) (impersonated_service_account)",
				gcloudUser, active, db, fakegoogle.DefaultTargetServiceAccount)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := g.opts(t, tt.vars)
			opts.GcloudAccount = tt.account
			if tt.account != "" {
				// Named explicitly, the account wins over every ADC source.
				opts.Getenv = func(k string) string {
					if k == envCredentials {
						return "/nonexistent/key.json"
					}
					return g.opts(t, tt.vars).Getenv(k)
				}
			}
			c, err := Detect(t.Context(), opts)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if c.Type != tt.wantType || c.Principal != tt.wantPrincipal || c.QuotaProjectID != tt.wantQuota || c.ProjectID != "my-project" {
				t.Errorf("got Type, Principal, QuotaProjectID, ProjectID = %q, %q, %q, %q; want %q, %q, %q, %q",
					c.Type, c.Principal, c.QuotaProjectID, c.ProjectID, tt.wantType, tt.wantPrincipal, tt.wantQuota, "my-project")
			}
			step := c.Steps[3]
			if step.Source != SourceGcloudAccounts || !step.Used || step.Detail != tt.wantDetail {
				t.Errorf("got step %+v; want %s used with detail %q", step, SourceGcloudAccounts, tt.wantDetail)
			}
			if tt.account != "" && c.Steps[1].Detail != fmt.Sprintf("not searched: gcloud account %q was named explicitly", tt.account) {
				t.Errorf("got step %+v; want it not searched", c.Steps[1])
			}
			tok, err := c.AccessToken(t.Context(), DefaultScope, "https://www.googleapis.com/auth/userinfo.email")
			if err != nil {
				t.Fatalf("AccessToken: %v", err)
			}
			if email := tokenEmail(t, g.fake.URL, tok.Value); email != tt.wantPrincipal {
				t.Errorf("got a token of %q; want %q", email, tt.wantPrincipal)
			}
		})
	}
}

func TestDetectGcloudSkips(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	db := filepath.Join(g.dir, "credentials.db")
	gce := []byte(`{"type": "gce", "service_account_email": "123-compute@developer.gserviceaccount.com"}`)
	g.store.rows = append(g.store.rows, GcloudCredential{AccountID: "123-compute@developer.gserviceaccount.com", JSON: gce})
	missing := &memStore{err: &fs.PathError{Op: "open", Path: db, Err: fs.ErrNotExist}}
	tests := []struct {
		name       string
		vars       map[string]string
		store      GcloudStore
		wantDetail string
	}{
		{"no store", nil, nil, noGcloudStoreDetail},
		{"no account", map[string]string{"CLOUDSDK_ACTIVE_CONFIG_NAME": "NONE"}, g.store,
			fmt.Sprintf("no active account in %s (configuration \"NONE\"): `gcloud auth login` or `gcloud config set account` sets one", g.dir)},
		{"no credentials.db", map[string]string{"CLOUDSDK_CORE_ACCOUNT": gcloudUser}, missing,
			fmt.Sprintf("account %s (CLOUDSDK_CORE_ACCOUNT): %s does not exist", gcloudUser, db)},
		{"account not in the store", map[string]string{"CLOUDSDK_CORE_ACCOUNT": "other@example.com"}, g.store,
			fmt.Sprintf("account other@example.com (CLOUDSDK_CORE_ACCOUNT) has no credentials in %s (gcloud would ask the metadata server for it)", db)},
		{"the metadata server's account", map[string]string{"CLOUDSDK_CORE_ACCOUNT": "123-compute@developer.gserviceaccount.com"}, g.store,
			"account 123-compute@developer.gserviceaccount.com (CLOUDSDK_CORE_ACCOUNT) is the metadata server's (stored as type gce)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := g.opts(t, tt.vars)
			opts.GcloudStore = tt.store
			// The search goes on to the metadata server: the fake's, as
			// GCPTOKEN_EMULATOR_HOST names it.
			c, err := Detect(t.Context(), opts)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if c.Type != TypeComputeMetadata {
				t.Errorf("got %s; want the metadata server's credentials", c.Type)
			}
			if s := c.Steps[3]; s.Source != SourceGcloudAccounts || s.Used || s.Detail != tt.wantDetail {
				t.Errorf("got step %+v; want %s skipped with detail %q", s, SourceGcloudAccounts, tt.wantDetail)
			}
		})
	}
}

func TestDetectGcloudErrors(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	g.store.rows = append(g.store.rows,
		GcloudCredential{AccountID: "p12@p.iam.gserviceaccount.com", JSON: []byte(`{"type": "service_account_p12", "client_email": "p12@p.iam.gserviceaccount.com"}`)},
		GcloudCredential{AccountID: "broken@example.com", JSON: []byte(`{"type": "authorized_user", "client_id": "x"}`)},
		GcloudCredential{AccountID: "tpc@example.com#example-universe.com", JSON: []byte(`{"type": "authorized_user"}`)},
	)
	db := filepath.Join(g.dir, "credentials.db")
	tests := []struct {
		name    string
		vars    map[string]string
		account string
		store   GcloudStore
		want    []string
	}{
		{"named account not signed in", nil, "nobody@example.com", g.store,
			[]string{`gcloud account "nobody@example.com": not in ` + db, "it holds " + gcloudUser + ", " + gcloudSA, "`gcloud auth login nobody@example.com`"}},
		{"P12 key", map[string]string{"CLOUDSDK_CORE_ACCOUNT": "p12@p.iam.gserviceaccount.com"}, "", g.store,
			[]string{"is a P12 service-account key", "activate-service-account --key-file"}},
		{"broken credential", map[string]string{"CLOUDSDK_CORE_ACCOUNT": "broken@example.com"}, "", g.store,
			[]string{`gcloud account "broken@example.com" in ` + db, "client_secret: missing or empty"}},
		{"other universe", map[string]string{"CLOUDSDK_CORE_ACCOUNT": "tpc@example.com"}, "", g.store,
			[]string{`gcloud account "tpc@example.com"`, "has credentials in universe example-universe.com, not in googleapis.com"}},
		{"unreadable store", map[string]string{"CLOUDSDK_CORE_ACCOUNT": gcloudUser}, "", &memStore{err: errors.New("database is locked")},
			[]string{`gcloud account "` + gcloudUser + `": read ` + db + ": database is locked"}},
		{"bad impersonation property", map[string]string{"CLOUDSDK_CORE_ACCOUNT": gcloudUser, "CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT": "a@b.iam.gserviceaccount.com,,c@b.iam.gserviceaccount.com"}, "", g.store,
			[]string{"CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT", "empty service account"}},
		{"bad token_host property", map[string]string{"CLOUDSDK_CORE_ACCOUNT": gcloudUser, "CLOUDSDK_AUTH_TOKEN_HOST": "ftp://x"}, "", g.store,
			[]string{"CLOUDSDK_AUTH_TOKEN_HOST", "not an absolute http(s) URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := g.opts(t, tt.vars)
			opts.GcloudAccount, opts.GcloudStore = tt.account, tt.store
			_, err := Detect(t.Context(), opts)
			if err == nil || errors.Is(err, ErrNoCredentials) {
				t.Fatalf("got error %v; want a failure", err)
			}
			wantErrContains(t, err, tt.want...)
			assertNoSecrets(t, "error", err.Error())
		})
	}
}

func TestDetectGcloudProperties(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	g.config(t, "[core]\naccount = "+gcloudUser+"\n[auth]\nimpersonate_service_account = "+fakegoogle.DefaultTargetServiceAccount+
		"\ntoken_host = "+g.fake.URL+"/token\n")
	t.Run("token_host and impersonation from the configuration", func(t *testing.T) {
		c, err := Detect(t.Context(), g.opts(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.Type != TypeImpersonatedServiceAccount || !strings.Contains(c.Source, `impersonating `+fakegoogle.DefaultTargetServiceAccount+` from gcloud account "`+gcloudUser+`"`) {
			t.Errorf("got %s from %s; want impersonation from the gcloud account", c.Type, c.Source)
		}
		if !strings.Contains(c.Steps[3].Detail, "token endpoint "+g.fake.URL+"/token (auth/token_host in configuration \"default\")") {
			t.Errorf("got detail %q; want the token_host noted", c.Steps[3].Detail)
		}
	})
	t.Run("GcloudNoImpersonation", func(t *testing.T) {
		opts := g.opts(t, nil)
		opts.GcloudNoImpersonation = true
		c, err := Detect(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if c.Type != TypeAuthorizedUser || c.Principal != gcloudUser {
			t.Errorf("got %s %s; want the user's own credentials", c.Type, c.Principal)
		}
	})
}

// TestDetectGcloudCredentialFileOverride: gcloud's
// auth/credential_file_override makes gcloud load its credentials from
// that file, whatever the account (store.py _Load). So does the gcloud
// step, with gcloud's properties on top, without reading the store.
func TestDetectGcloudCredentialFileOverride(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	key, err := g.fake.ServiceAccountKeyJSON(gcloudSA)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "override.json")
	writeFileAt(t, keyFile, key)
	g.config(t, "[core]\naccount = "+gcloudUser+"\nproject = my-project\n[auth]\ncredential_file_override = "+keyFile+"\n")
	fromConfig := `auth/credential_file_override in configuration "default"`
	for _, tt := range []struct {
		name          string
		vars          map[string]string
		account       string
		wantPrincipal string
		wantDetail    string
	}{
		{"from the configuration", nil, "", gcloudSA,
			fmt.Sprintf("credential file %s (%s), which gcloud uses instead of any account (service_account)", keyFile, fromConfig)},
		{"over a named account, as in gcloud", nil, gcloudUser, gcloudSA,
			fmt.Sprintf("credential file %s (%s), which gcloud uses instead of any account (service_account)", keyFile, fromConfig)},
		{"with impersonation", map[string]string{"CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT": fakegoogle.DefaultTargetServiceAccount}, "", fakegoogle.DefaultTargetServiceAccount,
			fmt.Sprintf("credential file %s (%s), which gcloud uses instead of any account; impersonating %s (CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT) (impersonated_service_account)",
				keyFile, fromConfig, fakegoogle.DefaultTargetServiceAccount)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := &memStore{err: errors.New("the store must not be read")}
			opts := g.opts(t, tt.vars)
			opts.GcloudStore, opts.GcloudAccount = store, tt.account
			c, err := Detect(t.Context(), opts)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if c.Principal != tt.wantPrincipal || c.ProjectID != "my-project" {
				t.Errorf("got Principal, ProjectID = %q, %q; want %q, my-project", c.Principal, c.ProjectID, tt.wantPrincipal)
			}
			if step := c.Steps[3]; !step.Used || step.Detail != tt.wantDetail {
				t.Errorf("got step %+v; want it used with detail %q", step, tt.wantDetail)
			}
			if len(store.paths) != 0 {
				t.Errorf("the store was read (%v); gcloud does not read it under an override", store.paths)
			}
			tok, err := c.AccessToken(t.Context(), DefaultScope, "https://www.googleapis.com/auth/userinfo.email")
			if err != nil {
				t.Fatalf("AccessToken: %v", err)
			}
			if email := tokenEmail(t, g.fake.URL, tok.Value); email != tt.wantPrincipal {
				t.Errorf("got a token of %q; want %q", email, tt.wantPrincipal)
			}
		})
	}
	t.Run("a file that is not there", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "gone.json")
		_, err := Detect(t.Context(), g.opts(t, map[string]string{"CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": missing}))
		if err == nil || errors.Is(err, ErrNoCredentials) {
			t.Fatalf("got error %v; want a failure", err)
		}
		wantErrContains(t, err, "gcloud's credential file override "+missing+" (CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE)", "does not exist")
	})
	t.Run("a broken file", func(t *testing.T) {
		broken := filepath.Join(t.TempDir(), "broken.json")
		writeFileAt(t, broken, []byte(`{"type": "authorized_user", "client_id": "x"}`))
		_, err := Detect(t.Context(), g.opts(t, map[string]string{"CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": broken}))
		if err == nil || !errors.Is(err, gcptoken.ErrInvalidCredentials) {
			t.Fatalf("got error %v; want invalid credentials", err)
		}
		wantErrContains(t, err, broken, "client_secret: missing or empty")
	})
}

func TestGcloudOptionsValidation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts Options
		want string
	}{
		{"account and file", Options{GcloudAccount: "a@b.c", CredentialsFile: "x.json", GcloudStore: &memStore{}}, "set Options.GcloudAccount or an explicit credential, not both"},
		{"account without a store", Options{GcloudAccount: "a@b.c"}, "Options.GcloudAccount needs Options.GcloudStore"},
	} {
		if _, err := Detect(t.Context(), &tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v; want %q", tt.name, err, tt.want)
		}
	}
}

func TestListGcloudAccounts(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	g.config(t, "[core]\naccount = "+gcloudSA+"\n")
	l, err := ListGcloudAccounts(t.Context(), g.opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []GcloudAccount{
		{Account: gcloudUser, UniverseDomain: DefaultUniverseDomain, Type: TypeAuthorizedUser, Principal: gcloudUser},
		{Account: gcloudSA, UniverseDomain: DefaultUniverseDomain, Type: TypeServiceAccount, Principal: gcloudSA, Active: true},
	}
	if len(l.Accounts) != len(want) {
		t.Fatalf("got %+v; want %+v", l.Accounts, want)
	}
	for i := range want {
		if l.Accounts[i] != want[i] {
			t.Errorf("got Accounts[%d] = %+v; want %+v", i, l.Accounts[i], want[i])
		}
	}
	if l.Dir != g.dir || l.Configuration != "default" || l.Active != gcloudSA {
		t.Errorf("got %q, %q, %q; want %q, default, %q", l.Dir, l.Configuration, l.Active, g.dir, gcloudSA)
	}
	assertNoSecrets(t, "list", fmt.Sprintf("%+v", l))

	// Without credentials.db: the configuration, no accounts.
	opts := g.opts(t, nil)
	opts.GcloudStore = &memStore{err: fs.ErrNotExist}
	if l, err := ListGcloudAccounts(t.Context(), opts); err != nil || len(l.Accounts) != 0 || l.Active != gcloudSA {
		t.Errorf("got %+v, %v; want the active account and no accounts", l, err)
	}
}

// The gcloud step reads no file but the configuration and, through the
// store, credentials.db; it writes nothing.
func TestDetectGcloudWritesNothing(t *testing.T) {
	t.Parallel()
	g := newGcloudFixture(t)
	g.config(t, "[core]\naccount = "+gcloudUser+"\n")
	before := listTree(t, g.dir)
	c, err := Detect(t.Context(), g.opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AccessToken(t.Context()); err != nil {
		t.Fatal(err)
	}
	if after := listTree(t, g.dir); after != before {
		t.Errorf("gcloud's directory changed:\n%s\nwant\n%s", after, before)
	}
	if want := filepath.Join(g.dir, "credentials.db"); len(g.store.paths) != 1 || g.store.paths[0] != want {
		t.Errorf("store asked for %q; want %q once", g.store.paths, want)
	}
}

// tokenEmail asks the fake's tokeninfo whose access token tok is.
func tokenEmail(t *testing.T, base, tok string) string {
	t.Helper()
	resp, err := http.PostForm(base+"/tokeninfo", url.Values{"access_token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ Email string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tokeninfo: HTTP %d, %v", resp.StatusCode, err)
	}
	return info.Email
}

// listTree lists the files under dir with their sizes and times.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %v\n", p, fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
