package crosscheck_test

// Rows of the conformance matrix for a universe other than googleapis.com:
// a second fake (fakegoogle.Options.UniverseDomain), its metadata server and
// its own intercepting proxy, which serves that universe's host names
// (oauth2.{universe}, iamcredentials.{universe}, …) and refuses every other,
// as `gcptoken emulator --universe-domain D --https-proxy` runs them. A
// client that does not derive its endpoints from the universe domain is
// refused by the proxy, which fails its cell.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/idtoken"
	"cloud.google.com/go/auth/httptransport"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// confUniverse is the universe of the second fake.
const confUniverse = "universe.test"

var (
	_ = registerUniverseFlows()
	_ = registerUniverseGoFlows()
)

func registerUniverseFlows() bool {
	confFlows = append(confFlows, universeConfFlows...)
	for _, fl := range universeConfFlows {
		for _, client := range confClients {
			if _, na := fl.na[client]; !na {
				confExtraCells[client+"/"+fl.name] = runUniverseCell(client, fl.name)
			}
		}
	}
	return true
}

var universeConfFlows = []confFlow{
	{name: "universe_sa", title: "other universe: key → self-signed JWT, used at cloudresourcemanager.{universe}",
		want: "cloudresourcemanager." + confUniverse + " /v1/projects/" + fakegoogle.DefaultProjectID,
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			u := c.uni
			got := claims(t, "self-signed JWT", out.Token)
			scope, _ := got["scope"].(string)
			if got["iss"] != u.sa.Email || got["sub"] != u.sa.Email ||
				!strings.Contains(scope, scopeCloudPlatform) && got["aud"] != "https://cloudresourcemanager."+confUniverse+"/" {
				t.Errorf("token claims %v; want the key's self-signed JWT (iss = sub = %s) for cloud-platform or Resource Manager", got, u.sa.Email)
			}
			u.checkProject(t, client, out)
			if r := out.Results["universe"]; client != "gcloud" && client != "go-oauth2" && r != confUniverse {
				t.Errorf("the client's universe = %q; want %q", r, confUniverse)
			}
		}},
	{name: "universe_id", title: "other universe: key → ID token (generateIdToken on itself at iamcredentials.{universe})",
		want: "iamcredentials." + confUniverse + " /v1/projects/-/serviceAccounts/" + fakegoogle.DefaultServiceAccount + ":generateIdToken",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 has no ID-token source",
			"node":      "google-auth-library's JWT.fetchIdToken asks https://oauth2.googleapis.com/token (gtoken) in every universe: no ID tokens for keys of another one",
		},
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			u := c.uni
			got := claims(t, "ID token", out.Token)
			checkClaims(t, "ID token", got, map[string]string{"aud": u.sampleURL, "iss": googleIssuer, "sub": u.sa.UniqueID})
			// Python and gcloud ask for the email, as the token endpoint's
			// ID tokens carry it; Go's idtoken does not.
			caller := u.sa.UniqueID
			if got["email"] != nil {
				caller = u.sa.Email
			}
			checkSampleServiceCaller(t, u.fixture, "ID token", out.Token, caller)
		}},
	{name: "universe_mds", title: "other universe: metadata server's universe/universe-domain, its token used at cloudresourcemanager.{universe}",
		want: "metadata /computeMetadata/v1/universe/universe-domain",
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			if r := out.Results["universe"]; r != confUniverse {
				t.Errorf("universe from the metadata server = %q; want %q", r, confUniverse)
			}
			c.uni.checkProject(t, client, out)
		}},
	{name: "universe_mismatch", title: "client configured for googleapis.com, key of another universe → refused with Google's error", want: "",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 never compares a client's universe with the credential's (Credentials.GetUniverseDomain only reports it)",
			"node":      "google-auth-library never compares a client's universe with the credential's (Google's generated Node clients do, in google-gax: not installed)",
		},
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			want := "does not match the universe domain found in the credentials"
			if client == "gcloud" {
				want = "is available in the following universe domain(s): [" + confUniverse + "], but it is not available in [googleapis.com]"
			}
			if !strings.Contains(strings.ToLower(out.Error), strings.ToLower(want)) || !strings.Contains(out.Error, confUniverse) {
				t.Errorf("error = %q; want Google's %q naming %s", out.Error, want, confUniverse)
			}
		}},
}

// uniFixture is the fake of confUniverse with its metadata server and proxy.
type uniFixture struct {
	*fixture
	mdsHost string // host:port of its metadata server
	proxy   string // host:port of its proxy
	caFile  string
	crmURL  string // Resource Manager of the universe, for the default project
}

// newUniverseFixture starts the fake of confUniverse behind its own proxy,
// whose requests seen records as the default fixture's does.
func newUniverseFixture(t *testing.T, seen *confHostLog) *uniFixture {
	t.Helper()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{Logger: fakeLogger(t), UniverseDomain: confUniverse})
	if err != nil {
		t.Fatalf("start fakegoogle for %s: %v", confUniverse, err)
	}
	t.Cleanup(func() { fake.Close() })
	u := &uniFixture{fixture: &fixture{fake: fake, dir: t.TempDir(), sampleURL: fake.SampleServiceURL()},
		crmURL: "https://cloudresourcemanager." + confUniverse + "/v1/projects/" + fakegoogle.DefaultProjectID}
	u.sa, _ = fake.ServiceAccount(fakegoogle.DefaultServiceAccount)
	if u.keyJSON, err = fake.ServiceAccountKeyJSON(u.sa.Email); err != nil {
		t.Fatal(err)
	}
	google, err := googlehosts.GoogleURLsIn(u.keyJSON, fake.URL, confUniverse)
	if err != nil {
		t.Fatal(err)
	}
	u.keyFile = u.write(t, "universe-service-account.json", google)
	u.mdsHost = u.startMetadataServer(t)

	ca, err := googlehosts.LoadOrCreateCA(filepath.Join(u.dir, "ca"), nil, googlehosts.HostsIn(confUniverse)...)
	if err != nil {
		t.Fatal(err)
	}
	u.caFile = filepath.Join(u.dir, "ca", googlehosts.CACertFile)
	mdsURL := &url.URL{Scheme: "http", Host: u.mdsHost}
	toMDS := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(mdsURL); pr.Out.Host = pr.In.Host }}
	proxy, err := googlehosts.New(&googlehosts.Options{Fake: seen.wrap(fake), CA: ca, Metadata: seen.wrap(toMDS),
		MetadataAliases: []string{u.mdsHost}, UniverseDomain: confUniverse, Logger: fakeLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.proxy = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("proxy of %s: %v", confUniverse, err)
		}
	})
	t.Logf("proxy of %s on %s (CA %s) in front of fakegoogle %s and the metadata server %s", confUniverse, u.proxy, u.caFile, fake.URL, u.mdsHost)
	return u
}

// startMetadataServer serves the fake's default account as a VM of the
// universe: access tokens from the fake (a key cannot be exchanged there),
// Compute Engine's ID tokens, and universe/universe-domain.
func (u *uniFixture) startMetadataServer(t *testing.T) string {
	t.Helper()
	srv, err := metadataserver.New(&metadataserver.Options{
		Source: uniMDSSource{u.fake.Server}, ServiceAccountEmail: u.sa.Email, ProjectID: fakegoogle.DefaultProjectID,
		NumericProjectID: fakegoogle.DefaultProjectNumber, UniverseDomain: confUniverse, Logger: mdsLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("metadata server of %s: %v", confUniverse, err)
		}
	})
	return ln.Addr().String()
}

// uniMDSSource is the metadata server's Source: what the fake mints.
type uniMDSSource struct{ fake *fakegoogle.Server }

func (s uniMDSSource) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		tok, exp, err := s.fake.MintAccessToken(fakegoogle.DefaultServiceAccount, scopes)
		if err != nil {
			return nil, err
		}
		return &gcptoken.Token{Value: tok, Type: "Bearer", Kind: gcptoken.AccessToken, Expiry: exp}, nil
	}), nil
}

func (s uniMDSSource) IDTokenProvider(req metadataserver.IDTokenRequest) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		tok, exp, err := s.fake.MintComputeIDToken(fakegoogle.ComputeIDTokenRequest{
			ServiceAccount: fakegoogle.DefaultServiceAccount, Audience: req.Audience, Format: req.Format, Licenses: req.Licenses})
		if err != nil {
			return nil, err
		}
		return &gcptoken.Token{Value: tok, Type: "Bearer", Kind: gcptoken.IDToken, Expiry: exp}, nil
	}), nil
}

// checkProject checks the Resource Manager answer a cell got in the
// universe: the body of its GET, or the project gcloud described.
func (u *uniFixture) checkProject(t *testing.T, client string, out confOut) {
	t.Helper()
	if client == "gcloud" {
		if out.Project != fakegoogle.DefaultProjectID {
			t.Errorf("gcloud projects describe = %q; want %q from cloudresourcemanager.%s", out.Project, fakegoogle.DefaultProjectID, confUniverse)
		}
		return
	}
	if out.Status != 200 || !strings.Contains(out.Body, `"projectId": "`+fakegoogle.DefaultProjectID+`"`) &&
		!strings.Contains(out.Body, `"projectId":"`+fakegoogle.DefaultProjectID+`"`) {
		t.Errorf("GET %s: %d %.200s; want 200 with the project", u.crmURL, out.Status, out.Body)
	}
}

// env is a cell's environment: env.sh of `gcptoken emulator
// --universe-domain D --https-proxy`. The client is configured for the
// universe (GOOGLE_CLOUD_UNIVERSE_DOMAIN, gcloud's core/universe_domain)
// except in universe_mismatch, where gcloud is told googleapis.com and the
// libraries keep their default; universe_mds reaches the metadata server as
// the mds_* rows do, and leaves gcloud to learn the universe from it.
func (u *uniFixture) env(t *testing.T, client, flow string) []string {
	host, port, _ := net.SplitHostPort(u.proxy)
	proxyURL := "http://" + u.proxy
	env := peerEnv(t.TempDir())
	switch {
	case flow == "universe_mismatch" && client == "gcloud":
		env = append(env, "CLOUDSDK_CORE_UNIVERSE_DOMAIN=googleapis.com")
	case flow == "universe_mds":
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return strings.HasPrefix(k, "GCE_METADATA_") || k == "NO_GCE_CHECK"
		})
		env = append(env, "HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL, "GOOGLE_CLOUD_UNIVERSE_DOMAIN="+confUniverse)
		if _, direct := confCellNote(client, flow); direct {
			env = append(env, "GCE_METADATA_HOST="+u.mdsHost, "GCE_METADATA_ROOT="+u.mdsHost)
		}
	case flow != "universe_mismatch":
		env = append(env, "GOOGLE_CLOUD_UNIVERSE_DOMAIN="+confUniverse, "CLOUDSDK_CORE_UNIVERSE_DOMAIN="+confUniverse)
	}
	return append(env,
		"HTTPS_PROXY="+proxyURL, "https_proxy="+proxyURL,
		"NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1",
		"SSL_CERT_FILE="+u.caFile, "REQUESTS_CA_BUNDLE="+u.caFile,
		"NODE_EXTRA_CA_CERTS="+u.caFile, "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE="+u.caFile,
		"CLOUDSDK_PROXY_TYPE=http", "CLOUDSDK_PROXY_ADDRESS="+host, "CLOUDSDK_PROXY_PORT="+port,
	)
}

// runUniverseCell runs one client on a universe row.
func runUniverseCell(client, flow string) func(t *testing.T, c *confFixture, _ confParams) confOut {
	return func(t *testing.T, c *confFixture, _ confParams) confOut {
		t.Helper()
		u := c.uni
		p := confParams{KeyFile: u.keyFile, Audience: u.sampleURL, URL: u.crmURL, Scopes: []string{scopeCloudPlatform}}
		env := u.env(t, client, flow)
		switch client {
		case "go-auth", "go-oauth2":
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			env = append(env, confGoPeerEnv+"="+client+"/"+flow)
			return decode[confOut](t, run(t, ".", env, p, exe))
		case "python":
			py := pythonPeer()
			env = append(append(env, py.env...), pythonEnv...)
			return decode[confOut](t, run(t, "python", env, p, py.path, "conf_flows.py", flow))
		case "node":
			return decode[confOut](t, run(t, "node", env, p, nodePeer().path, "conf_flows.js", flow))
		case "gcloud":
			return u.runGcloud(t, flow, p, env)
		}
		t.Fatalf("unknown client %q", client)
		return confOut{}
	}
}

// runGcloud runs the gcloud commands of a universe row in a fresh
// configuration.
func (u *uniFixture) runGcloud(t *testing.T, flow string, p confParams, env []string) confOut {
	t.Helper()
	env = append(env, "CLOUDSDK_CONFIG="+filepath.Join(t.TempDir(), "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true")
	gcloud := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(string(run(t, u.dir, env, nil, gcloudPeer().path, append(args, "--verbosity=error")...)))
	}
	describe := func() string {
		return gcloud("projects", "describe", fakegoogle.DefaultProjectID, "--format=value(projectId)")
	}
	switch flow {
	case "universe_sa":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Token: gcloud("auth", "print-access-token"), Project: describe()}
	case "universe_id":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Token: gcloud("auth", "print-identity-token", "--audiences="+p.Audience)}
	case "universe_mds":
		out := confOut{Token: gcloud("auth", "print-access-token"), Project: describe()}
		universe := gcloud("auth", "list", "--format=value(universe_domain)")
		out.Results = map[string]string{"universe": universe}
		return out
	case "universe_mismatch":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Error: runFailing(t, env, gcloudPeer().path, "auth", "print-access-token", "--verbosity=error")}
	}
	t.Fatalf("no gcloud commands for flow %q", flow)
	return confOut{}
}

// runFailing runs a command that must fail and returns its stderr.
func runFailing(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s %s: got %v; want it to fail\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func registerUniverseGoFlows() bool {
	goConfFlows["go-auth/universe_sa"] = func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, p.KeyFile,
			&credentials.DetectOptions{Scopes: p.Scopes})
		if err != nil {
			return nil, err
		}
		return goUniverseGet(ctx, creds, p.URL)
	}
	goConfFlows["go-oauth2/universe_sa"] = func(ctx context.Context, p *confParams) (*confOut, error) {
		key, err := os.ReadFile(p.KeyFile)
		if err != nil {
			return nil, err
		}
		// CredentialsFromJSON would post the key's assertion to its
		// token_uri whatever the universe; this is x/oauth2's
		// self-signed source.
		ts, err := google.JWTAccessTokenSourceWithScope(key, p.Scopes...)
		if err != nil {
			return nil, err
		}
		return goOAuth2Get(ctx, ts, p.URL)
	}
	goConfFlows["go-auth/universe_id"] = goUniverseIDToken
	goConfFlows["go-auth/universe_mds"] = func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: p.Scopes})
		if err != nil {
			return nil, err
		}
		return goUniverseGet(ctx, creds, p.URL)
	}
	goConfFlows["go-oauth2/universe_mds"] = func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := google.FindDefaultCredentials(ctx, p.Scopes...)
		if err != nil {
			return nil, err
		}
		universe, err := creds.GetUniverseDomain()
		if err != nil {
			return nil, err
		}
		out, err := goOAuth2Get(ctx, creds.TokenSource, p.URL)
		if out != nil {
			out.Results = map[string]string{"universe": universe}
		}
		return out, err
	}
	goConfFlows["go-auth/universe_mismatch"] = func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, p.KeyFile,
			&credentials.DetectOptions{Scopes: p.Scopes})
		if err != nil {
			return nil, err
		}
		client, err := httptransport.NewClient(&httptransport.Options{Credentials: creds})
		if err != nil {
			return nil, err
		}
		resp, err := client.Get(p.URL)
		if err == nil {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %d; want the client to refuse the credential", p.URL, resp.StatusCode)
		}
		return &confOut{Error: err.Error()}, nil
	}
	return true
}

// goUniverseIDToken gets a key's ID token with cloud.google.com/go/auth's
// idtoken in another universe.
func goUniverseIDToken(ctx context.Context, p *confParams) (*confOut, error) {
	src, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, p.KeyFile,
		&credentials.DetectOptions{Scopes: p.Scopes})
	if err != nil {
		return nil, err
	}
	// "If provided this should be a fully-authenticated client": the
	// IAM call of another universe is sent with Options.Client alone.
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: src})
	if err != nil {
		return nil, err
	}
	return confAuthToken(ctx)(idtoken.NewCredentials(&idtoken.Options{Audience: p.Audience, CredentialsFile: p.KeyFile, Client: client}))
}

// goUniverseGet GETs url with cloud.google.com/go/auth's transport and
// reports the answer, the token and the credential's universe.
func goUniverseGet(ctx context.Context, creds *auth.Credentials, url string) (*confOut, error) {
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: creds})
	if err != nil {
		return nil, err
	}
	out, err := getAnswer(ctx, client, url)
	if err != nil {
		return nil, err
	}
	tok, err := creds.Token(ctx)
	if err != nil {
		return nil, err
	}
	universe, err := creds.UniverseDomain(ctx)
	if err != nil {
		return nil, err
	}
	out.Token, out.Results = tok.Value, map[string]string{"universe": universe}
	return out, nil
}

// goOAuth2Get GETs url with golang.org/x/oauth2's transport.
func goOAuth2Get(ctx context.Context, ts oauth2.TokenSource, url string) (*confOut, error) {
	out, err := getAnswer(ctx, oauth2.NewClient(ctx, ts), url)
	if err != nil {
		return nil, err
	}
	tok, err := ts.Token()
	if err != nil {
		return nil, err
	}
	out.Token = tok.AccessToken
	return out, nil
}

// getAnswer sends one GET and reports status, content type and body.
func getAnswer(ctx context.Context, client *http.Client, url string) (*confOut, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return nil, err
	}
	return &confOut{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)}, nil
}
