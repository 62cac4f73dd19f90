package crosscheck_test

// The conformance matrix: flows × Google's own clients, each client
// unmodified apart from its environment and credential files, talking to
// fakegoogle under Google's real host names through gcptoken's intercepting
// HTTPS proxy (fakegoogle/googlehosts), as `gcptoken emulator --https-proxy`
// serves it. Run with `make conformance`; the table is printed to the test
// log and, when CONFORMANCE_REPORT names a file, written there.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
)

// The clients, in table order.
var confClients = []string{"go-auth", "go-oauth2", "python", "node", "gcloud"}

// confFlow is a row of the matrix.
type confFlow struct {
	name  string
	title string
	// want is a request the proxy must have passed on during the cell
	// ("host path-prefix"), proving it went to Google's host name. Host
	// "metadata" is either name of the metadata server.
	want string
	// na gives, per client, why the cell cannot run.
	na map[string]string
	// check asserts on a peer's output.
	check func(t *testing.T, c *confFixture, client string, out confOut)
}

// The matrix rows. A cell not in na runs and must pass.
var confFlows = []confFlow{
	{name: "sa_access", title: "service account → access token", want: "oauth2.googleapis.com /token",
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkAccessTokenInfo(t, c.fixture, "access token", out.Token, c.sa.UniqueID, scopeCloudPlatform)
			c.checkExpiry(t, out, tokenLifetime)
		}},
	{name: "sa_id", title: "service account → ID token", want: "oauth2.googleapis.com /token",
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkSAIDToken(t, c.fixture, "ID token", out.Token)
		}},
	{name: "user_refresh", title: "authorized_user refresh", want: "oauth2.googleapis.com /token",
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkAccessTokenInfo(t, c.fixture, "user access token", out.Token, fakegoogle.DefaultClientID, scopeCloudPlatform)
			c.checkExpiry(t, out, tokenLifetime)
			if out.IDToken != "" {
				checkUserIDToken(t, c.fixture, "user ID token", out.IDToken, out.Token)
			}
		}},
	{name: "mds_token", title: "metadata server → access token", want: "metadata /computeMetadata/v1/instance/service-accounts/",
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkAccessTokenInfo(t, c.fixture, "metadata access token", out.Token, c.sa.UniqueID, scopeCloudPlatform)
		}},
	{name: "mds_id", title: "metadata server → ID token", want: "metadata /computeMetadata/v1/instance/service-accounts/default/identity",
		na: map[string]string{"go-oauth2": "golang.org/x/oauth2 has no ID-token source (google.golang.org/api/idtoken has; not a dependency)"},
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			// Each client's default format: gcloud's is standard (no
			// email), the libraries ask for full.
			format := "full"
			if client == "gcloud" {
				format = "standard"
			}
			checkComputeIDToken(t, c, "metadata ID token", out.Token, format, false)
		}},
	{name: "mds_project", title: "metadata server → project id", want: "metadata /computeMetadata/v1/project/project-id",
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if out.Project != mdsProjectID {
				t.Errorf("project = %q; want %q (from the metadata server)", out.Project, mdsProjectID)
			}
		}},
	{name: "imp_access", title: "impersonation → access token", want: "iamcredentials.googleapis.com /v1/projects/-/serviceAccounts/" + fakegoogle.DefaultTargetServiceAccount + ":generateAccessToken",
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			c.checkImpToken(t, client, "impersonated token", out.Token)
			if out.Expiry != "" || out.ExpiryDate != 0 {
				c.checkExpiry(t, out, impLifetime)
			}
			if client != "gcloud" {
				c.checkImpToken(t, client, "token from the impersonated_service_account file", out.FileToken)
			}
		}},
	{name: "imp_id", title: "impersonation → ID token", want: "iamcredentials.googleapis.com /v1/projects/-/serviceAccounts/" + fakegoogle.DefaultTargetServiceAccount + ":generateIdToken",
		na: map[string]string{"go-oauth2": "golang.org/x/oauth2 has no impersonated ID tokens (google.golang.org/api/impersonate has; not a dependency)"},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			c.imp().checkImpIDToken(t, "impersonated ID token", out.Token, c.target)
		}},
	{name: "downscope", title: "downscoping (Credential Access Boundary)", want: "sts.googleapis.com /v1/token",
		na: map[string]string{"gcloud": "gcloud has no downscoping command"},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			info := c.imp().tokeninfo(t, "downscoped token", out.Token)
			if !strings.Contains(info["access_boundary"], "conformance-bucket") {
				t.Errorf("downscoped token's access_boundary = %q; want the rule for conformance-bucket", info["access_boundary"])
			}
		}},
	{name: "tokeninfo", title: "tokeninfo", want: "oauth2.googleapis.com /tokeninfo",
		na: map[string]string{
			"go-auth":   "cloud.google.com/go/auth has no tokeninfo call",
			"go-oauth2": "golang.org/x/oauth2 has no tokeninfo call",
			"gcloud":    "gcloud has no tokeninfo command",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if out.TokenInfo["aud"] != c.sa.UniqueID || !strings.Contains(fmt.Sprint(out.TokenInfo["scope"], out.TokenInfo["scopes"]), scopeCloudPlatform) {
				t.Errorf("tokeninfo = %v; want aud %q and scope %s", out.TokenInfo, c.sa.UniqueID, scopeCloudPlatform)
			}
		}},
	{name: "verify", title: "ID-token verification (Google's certs URL)", want: "www.googleapis.com /oauth2/v",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 has no ID-token verifier",
			"gcloud":    "gcloud has no ID-token verification command",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkClaims(t, "verified claims", out.Claims, c.saIDClaims())
		}},
	{name: "ext_file", title: "external_account (OIDC token file)", want: "sts.googleapis.com /v1/token",
		check: func(t *testing.T, c *confFixture, client string, out confOut) {
			info := c.imp().tokeninfo(t, "federated token", out.Token)
			if want := confPoolSubject + confWorkload; info["sub"] != want {
				t.Errorf("federated token's sub = %q; want %q", info["sub"], want)
			}
			// google.auth.load_credentials_from_file also asks Resource
			// Manager for the project id.
			if client == "python" && out.Project != fakegoogle.DefaultProjectID {
				t.Errorf("project from load_credentials_from_file = %q; want %q", out.Project, fakegoogle.DefaultProjectID)
			}
			// gcloud authenticates the exchange as its own OAuth client
			// (runGcloud registers it with the fake), which the fake
			// records as the token's audience.
			if client == "gcloud" {
				if cl, err := gcloudClient(); err == nil && info["aud"] != cl.id {
					t.Errorf("federated token's aud = %q; want gcloud's client %q", info["aud"], cl.id)
				}
			}
		}},
	{name: "ext_project", title: "external_account → project id (Resource Manager)", want: "cloudresourcemanager.googleapis.com /v1/projects/" + fakegoogle.DefaultProjectNumber,
		na: map[string]string{
			"go-auth":   "cloud.google.com/go/auth takes the project id only from the file (project_id): no Resource Manager lookup",
			"go-oauth2": "golang.org/x/oauth2 takes the project id only from the file (project_id): no Resource Manager lookup",
			"gcloud":    "gcloud takes the project from its core/project property, never from the credentials",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if out.Project != fakegoogle.DefaultProjectID {
				t.Errorf("project = %q; want %q (Resource Manager's answer for project number %s)", out.Project, fakegoogle.DefaultProjectID, fakegoogle.DefaultProjectNumber)
			}
			info := c.imp().tokeninfo(t, "federated token", out.Token)
			if want := confPoolSubject + confWorkload; info["sub"] != want {
				t.Errorf("federated token's sub = %q; want %q", info["sub"], want)
			}
		}},
	{name: "userinfo", title: "discovery document → userinfo_endpoint (user token)", want: "openidconnect.googleapis.com /v1/userinfo",
		na: map[string]string{"gcloud": "gcloud has no userinfo command"},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if out.Client != "https://openidconnect.googleapis.com/v1/userinfo" {
				t.Errorf("userinfo_endpoint = %q; want Google's", out.Client)
			}
			info := confJSONBody(t, out)
			user := c.fake.AddUser(fakegoogle.DefaultUser)
			if out.Status != 200 || info["sub"] != user.Subject || info["email"] != user.Email || info["email_verified"] != true {
				t.Errorf("userinfo: %d %v; want 200 with sub %s, email %s, email_verified", out.Status, info, user.Subject, user.Email)
			}
		}},
	{name: "tokeninfo_v1", title: "legacy tokeninfo (www.googleapis.com/oauth2/v1/tokeninfo)", want: "www.googleapis.com /oauth2/v1/tokeninfo",
		na: map[string]string{"gcloud": "gcloud has no tokeninfo command"},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			info := confJSONBody(t, out)
			if out.Status != 200 || info["audience"] != c.sa.UniqueID || !strings.Contains(fmt.Sprint(info["scope"]), scopeCloudPlatform) {
				t.Errorf("v1 tokeninfo: %d %v; want 200 with audience %s and scope %s", out.Status, info, c.sa.UniqueID, scopeCloudPlatform)
			}
		}},
	{name: "device", title: "device authorization grant (approved on www.google.com/device)", want: "oauth2.googleapis.com /device/code",
		na: map[string]string{
			"go-auth": "cloud.google.com/go/auth has no device flow",
			"python":  "google-auth (and google-auth-oauthlib) have no device flow",
			"node":    "google-auth-library has no device flow",
			"gcloud":  "gcloud signs in with the authorization code flow (--no-browser), not the device grant",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if out.Body != "https://www.google.com/device" {
				t.Errorf("verification URL = %q; want Google's https://www.google.com/device", out.Body)
			}
			info := c.imp().tokeninfo(t, "device-flow token", out.Token)
			if info["email"] != fakegoogle.DefaultUser || info["aud"] != fakegoogle.DefaultClientID {
				t.Errorf("device-flow token: tokeninfo %v; want the approving user for the client", info)
			}
			if out.IDToken == "" {
				t.Error("no ID token for scopes openid email")
			}
		}},
	{name: "sa_keys", title: "signJwt output verified with the signer's published keys", want: "www.googleapis.com /service_accounts/v1/",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 has no JWT verifier",
			"gcloud":    "gcloud has no JWT verification command",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkClaimValues(t, "signJwt claims", out.Claims, map[string]string{"iss": c.target.Email, "aud": confJWTAudience})
		}},
	{name: "firebase", title: "Firebase ID token verified (securetoken@system.gserviceaccount.com's keys)", want: "www.googleapis.com /robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
		na: map[string]string{
			"go-auth":   "cloud.google.com/go/auth has no Firebase verifier (that is the Firebase Admin SDK, not a peer)",
			"go-oauth2": "golang.org/x/oauth2 has no JWT verifier",
			"gcloud":    "gcloud has no Firebase token command",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkClaimValues(t, "Firebase claims", out.Claims, map[string]string{"sub": confFirebaseUID, "aud": fakegoogle.DefaultProjectID,
				"iss": "https://securetoken.google.com/" + fakegoogle.DefaultProjectID})
		}},
	{name: "iap", title: "IAP signed header (x-goog-iap-jwt-assertion) verified", want: "www.gstatic.com /iap/verify/public_key",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 has no JWT verifier",
			"gcloud":    "gcloud has no IAP verification command",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkClaimValues(t, "IAP claims", out.Claims, map[string]string{"aud": confIAPAudience, "iss": fakegoogle.IAPIssuer,
				"email": c.sa.Email, "sub": "accounts.google.com:" + c.sa.UniqueID})
		}},
	{name: "invalid_scope", title: "unknown scope → invalid_scope", want: "oauth2.googleapis.com /token",
		na: map[string]string{"gcloud": "gcloud checks --scopes against its own list and refuses before asking Google"},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if !strings.Contains(out.Error, "invalid_scope") {
				t.Errorf("error = %q; want Google's invalid_scope", out.Error)
			}
		}},
	{name: "not_found", title: "a path Google does not serve → Google's 404 page", want: "",
		na: map[string]string{"gcloud": "gcloud has no command that fetches an arbitrary URL"},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			if out.Status != 404 || !strings.HasPrefix(out.ContentType, "text/html") || !strings.Contains(out.Body, "Error 404 (Not Found)!!1") {
				t.Errorf("answer: %d %s %.80q; want 404 with Google's HTML page", out.Status, out.ContentType, out.Body)
			}
		}},
	{name: "ext_aws", title: "external_account (AWS) + impersonation", want: "iamcredentials.googleapis.com /v1/projects/-/serviceAccounts/" + fakegoogle.DefaultTargetServiceAccount + ":generateAccessToken",
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			info := c.imp().tokeninfo(t, "impersonated federated token", out.Token)
			if info["aud"] != c.target.UniqueID || info["sub"] != c.target.UniqueID {
				t.Errorf("token from the AWS external_account file: tokeninfo aud %q, sub %q; want the target %s (%s)",
					info["aud"], info["sub"], c.target.Email, c.target.UniqueID)
			}
		}},
}

// Values of the census items' rows.
const (
	confJWTAudience = "https://conformance.example/signjwt"
	confFirebaseUID = "conformance-firebase-user"
	confIAPAudience = "/projects/" + fakegoogle.DefaultProjectNumber + "/global/backendServices/4242"
	confBogusScope  = "https://www.googleapis.com/auth/conformance-no-such-api"
	// confNotFoundPath is asked of www.googleapis.com, which does not
	// serve it: the proxy's warning about it is expected.
	confNotFoundPath = "/oauth2/v9/not-a-google-endpoint"
)

// The federated identity of the OIDC subject token the ext_file cells use.
const (
	confWorkload    = "conformance-workload"
	confPoolSubject = "principal://iam.googleapis.com/projects/" + fakegoogle.DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + fakegoogle.DefaultWorkloadPool + "/subject/"
)

// confFixture is the fake and a metadata server (mdsFixture) behind the
// intercepting proxy, with credential files that name Google's URLs.
type confFixture struct {
	*mdsFixture
	target   *fakegoogle.ServiceAccount
	proxy    string // "127.0.0.1:port"
	caFile   string
	keyFile  string // Google-URL versions of the credential files
	userFile string
	impFile  string
	extFile  string // external_account, OIDC token file
	extAWS   string // external_account, AWS (IMDSv2 on the fake), impersonating the target
	seen     *confHostLog
	idToken  string       // minted by Go for the verifiers
	access   string       // minted by Go for tokeninfo
	signed   string       // signJwt output of the target, for sa_keys
	firebase string       // a Firebase ID token
	iap      string       // an assertion from the fake's IAP
	client   *http.Client // through the proxy, trusting its CA
}

// confHostLog records "host path" of every request the proxy answered.
type confHostLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *confHostLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		l.mu.Lock()
		l.entries = append(l.entries, host+" "+r.URL.Path)
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *confHostLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *confHostLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entries[n:])
}

func newConfFixture(t *testing.T) *confFixture {
	t.Helper()
	m := newComputeMDSFixture(t) // ID tokens as Compute Engine mints them, as the emulator's
	c := &confFixture{mdsFixture: m, seen: &confHostLog{}}
	var ok bool
	if c.target, ok = m.fake.ServiceAccount(fakegoogle.DefaultTargetServiceAccount); !ok {
		t.Fatalf("fakegoogle has no %s", fakegoogle.DefaultTargetServiceAccount)
	}
	ca, err := googlehosts.LoadOrCreateCA(filepath.Join(m.dir, "ca"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.caFile = filepath.Join(m.dir, "ca", googlehosts.CACertFile)
	// The metadata route forwards to the metadata server's own listener
	// (recorded by its wire log). Rewrite, unlike Director, adds no
	// X-Forwarded-For, which the metadata server refuses as Google's does.
	mdsURL := &url.URL{Scheme: "http", Host: m.host}
	toMDS := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(mdsURL)
		pr.Out.Host = pr.In.Host
	}}
	proxy, err := googlehosts.New(&googlehosts.Options{
		Fake: c.seen.wrap(c.deviceApprover(t, m.fake)), CA: ca, Metadata: c.seen.wrap(toMDS), Logger: expectWarningFor(fakeLogger(t), confNotFoundPath),
		MetadataAliases: []string{m.host},
		// As `gcptoken emulator --https-proxy` does: gcloud sends the AWS
		// file's instance-metadata requests (the fake's loopback address)
		// through its proxy.
		FakeAliases: []string{strings.TrimPrefix(m.fake.URL, "http://")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.proxy = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("proxy: %v", err)
		}
	})

	withGoogleURLs := func(name string, data []byte) string {
		g, err := googlehosts.GoogleURLs(data, m.fake.URL)
		if err != nil {
			t.Fatal(err)
		}
		return m.write(t, name, g)
	}
	c.keyFile = withGoogleURLs("google-service-account.json", m.keyJSON)
	c.userFile = withGoogleURLs("google-authorized-user.json", m.userJSON)
	imp, err := m.fake.ImpersonatedServiceAccountJSON(m.keyJSON, c.target.Email, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.impFile = withGoogleURLs("google-impersonated.json", imp)
	subject, err := m.fake.MintOIDCSubjectToken(confWorkload, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := m.fake.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: m.write(t, "oidc-token.jwt", []byte(subject))})
	if err != nil {
		t.Fatal(err)
	}
	c.extFile = withGoogleURLs("google-external-file.json", ext)
	// The instance-metadata URLs stay on the fake's loopback address (AWS,
	// not Google): NO_PROXY sends them direct, except for gcloud, whose
	// proxy property the proxy answers them under (FakeAliases).
	if ext, err = m.fake.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{
		AWS: true, IMDSv2: true, ServiceAccount: fakegoogle.DefaultTargetServiceAccount}); err != nil {
		t.Fatal(err)
	}
	c.extAWS = withGoogleURLs("google-external-aws.json", ext)
	c.idToken = mintSAIDToken(t, m.fixture)
	c.access = c.mintAccessToken(t)
	c.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: c.proxy}), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	c.signed = c.signJwt(t)
	if c.firebase, err = m.fake.MintFirebaseIDToken(fakegoogle.DefaultProjectID, confFirebaseUID, fakegoogle.DefaultUser); err != nil {
		t.Fatal(err)
	}
	c.iap = c.iapAssertion(t)
	t.Logf("proxy on %s (CA %s) in front of fakegoogle %s and the metadata server %s", c.proxy, c.caFile, m.fake.URL, m.host)
	return c
}

// signJwt has the fake sign a JWT as the target, the way a caller of IAM
// Credentials' signJwt gets one to hand to a receiver.
func (c *confFixture) signJwt(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{"iss": c.target.Email, "sub": c.target.Email, "aud": confJWTAudience, "iat": now, "exp": now + 600})
	body, _ := json.Marshal(map[string]string{"payload": string(payload)})
	req, _ := http.NewRequest(http.MethodPost, c.fake.URL+"/v1/projects/-/serviceAccounts/"+c.target.Email+":signJwt", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		SignedJwt string `json:"signedJwt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.SignedJwt == "" {
		t.Fatalf("signJwt: %d, %v", resp.StatusCode, err)
	}
	return out.SignedJwt
}

// iapAssertion calls an app behind the fake's IAP with the service
// account's ID token for IAP's client, and returns the assertion the app got.
func (c *confFixture) iapAssertion(t *testing.T) string {
	t.Helper()
	cfg, err := google.JWTConfigFromJSON(c.keyJSON)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PrivateClaims = map[string]any{"target_audience": fakegoogle.DefaultIAPClientID}
	cfg.UseIDToken = true
	tok, err := cfg.TokenSource(t.Context()).Token()
	if err != nil {
		t.Fatalf("ID token for IAP: %v", err)
	}
	var assertion string
	front, err := c.fake.IAP(fakegoogle.IAPOptions{Audience: confIAPAudience,
		Backend: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { assertion = r.Header.Get("X-Goog-Iap-Jwt-Assertion") })})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	rec := httptest.NewRecorder()
	front.ServeHTTP(rec, req)
	if rec.Code != 200 || assertion == "" {
		t.Fatalf("through the fake IAP: %d %s", rec.Code, rec.Body)
	}
	return assertion
}

// approveOnDevicePage is the user of the device cell: on the verification
// page, through the proxy, enter the code, then allow it for DefaultUser.
func (c *confFixture) approveOnDevicePage(verifyURL, userCode string) error {
	resp, err := c.client.PostForm(verifyURL, url.Values{"user_code": {userCode}})
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("confirmation page %d without a nonce: %.200s", resp.StatusCode, page)
	}
	resp, err = c.client.PostForm(verifyURL, url.Values{"nonce": {string(m[1])}, "decision": {"allow"}, "account": {fakegoogle.DefaultUser}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("allow: status %d", resp.StatusCode)
	}
	return nil
}

// deviceApprover stands for the user in the device cell: when the fake
// hands out a user code, it approves it on the verification page.
func (c *confFixture) deviceApprover(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/device/code" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		var dc struct {
			UserCode        string `json:"user_code"`
			VerificationURL string `json:"verification_url"`
		}
		if rec.Code == 200 && json.Unmarshal(rec.Body.Bytes(), &dc) == nil {
			go func() {
				if err := c.approveOnDevicePage(dc.VerificationURL, dc.UserCode); err != nil {
					t.Errorf("approve the device code on %s: %v", dc.VerificationURL, err)
				}
			}()
		}
	})
}

// expectWarningFor lets through, without failing the test, the proxy's
// warning about one path the test asks for on purpose.
func expectWarningFor(h *slog.Logger, path string) *slog.Logger {
	return slog.New(pathWarnFilter{h.Handler(), path})
}

type pathWarnFilter struct {
	slog.Handler
	path string
}

func (f pathWarnFilter) Handle(ctx context.Context, r slog.Record) error {
	expected := false
	r.Attrs(func(a slog.Attr) bool {
		expected = expected || a.Key == "path" && a.Value.String() == f.path
		return !expected
	})
	if expected {
		return nil
	}
	return f.Handler.Handle(ctx, r)
}

func (f pathWarnFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return pathWarnFilter{f.Handler.WithAttrs(as), f.path}
}

func (f pathWarnFilter) WithGroup(name string) slog.Handler {
	return pathWarnFilter{f.Handler.WithGroup(name), f.path}
}

// checkClaimValues checks string claims a verifier returned, and that it
// returned an exp.
func checkClaimValues(t *testing.T, what string, got map[string]any, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, _ := got[k].(string); g != v {
			t.Errorf("%s claim %s = %v; want %q", what, k, got[k], v)
		}
	}
	if _, ok := got["exp"].(float64); !ok {
		t.Errorf("%s claim exp = %v; want a number", what, got["exp"])
	}
}

// confJSONBody decodes the body of an authorized GET's answer.
func confJSONBody(t *testing.T, out confOut) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out.Body), &m); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", out.Status, out.Body, err)
	}
	return m
}

// mintAccessToken gets an access token for the service account straight
// from the fake (with golang.org/x/oauth2 in process, on the loopback key),
// for the tokeninfo cells.
func (c *confFixture) mintAccessToken(t *testing.T) string {
	t.Helper()
	cfg, err := google.JWTConfigFromJSON(c.keyJSON, scopeCloudPlatform)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok, err := cfg.TokenSource(ctx).Token()
	if err != nil {
		t.Fatalf("mint access token: %v", err)
	}
	return tok.AccessToken
}

func (c *confFixture) imp() *impFixture {
	return &impFixture{fixture: c.fixture, target: c.target}
}

// checkImpToken checks via tokeninfo that tok belongs to the target. gcloud
// asks for its own scopes, so only the others are held to impScopes.
func (c *confFixture) checkImpToken(t *testing.T, client, what, tok string) {
	t.Helper()
	if client != "gcloud" {
		c.imp().checkImpersonatedToken(t, what, tok, c.target)
		return
	}
	info := c.imp().tokeninfo(t, what, tok)
	if info["aud"] != c.target.UniqueID || info["email"] != c.target.Email {
		t.Errorf("tokeninfo for %s = %v; want the target %s", what, info, c.target.Email)
	}
}

// checkExpiry checks the expiry a peer reported, in whichever form.
func (c *confFixture) checkExpiry(t *testing.T, out confOut, lifetime time.Duration) {
	t.Helper()
	var exp time.Time
	switch {
	case out.Expiry != "":
		exp = parseRFC3339(t, "expiry", out.Expiry)
	case out.ExpiryDate != 0:
		exp = time.UnixMilli(int64(out.ExpiryDate))
	default:
		return // gcloud prints only the token
	}
	now := time.Now()
	if lo, hi := now.Add(lifetime-5*time.Minute), now.Add(lifetime+time.Minute); exp.Before(lo) || exp.After(hi) {
		t.Errorf("expiry = %v; want about %v from now", exp.UTC(), lifetime)
	}
}

func (c *confFixture) params() confParams {
	return confParams{
		KeyFile: c.keyFile, UserFile: c.userFile, ImpFile: c.impFile, ExtFile: c.extFile, ExtAWSFile: c.extAWS,
		Target: c.target.Email, Audience: c.sampleURL, Scopes: impScopes, Lifetime: int(impLifetime / time.Second),
		IDToken: c.idToken, IDTokenAudience: c.sampleURL, AccessToken: c.access,
		SignedJWT: c.signed, JWTAudience: confJWTAudience, FirebaseToken: c.firebase, FirebaseProject: fakegoogle.DefaultProjectID,
		IAPAssertion: c.iap, IAPAudience: confIAPAudience, BogusScope: confBogusScope,
		DeviceClientID: fakegoogle.DefaultClientID, DeviceSecret: fakegoogle.DefaultClientSecret,
	}
}

// env is a cell's complete environment: what env.sh of `gcptoken emulator
// --https-proxy` sets. Metadata flows also get HTTP_PROXY and lose every
// GCE_METADATA_* override (and GOOGLE_CLOUD_PROJECT), so the libraries ask
// metadata.google.internal and 169.254.169.254 themselves; other flows keep
// peerEnv's closed metadata port.
func (c *confFixture) env(t *testing.T, flow string, extra ...string) []string {
	home := t.TempDir()
	host, port, _ := net.SplitHostPort(c.proxy)
	proxyURL := "http://" + c.proxy
	env := peerEnv(home)
	if flow == "ext_project" {
		// The project may come only from Resource Manager.
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOOGLE_CLOUD_PROJECT=") })
		env = append(env, "GOOGLE_APPLICATION_CREDENTIALS="+c.extFile, "CLOUDSDK_CONFIG="+t.TempDir())
	}
	if strings.HasPrefix(flow, "mds_") {
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			return strings.HasPrefix(k, "GCE_METADATA_") || k == "NO_GCE_CHECK" || k == "GOOGLE_CLOUD_PROJECT"
		})
		env = append(env, "HTTP_PROXY="+proxyURL, "http_proxy="+proxyURL)
	}
	env = append(env,
		"HTTPS_PROXY="+proxyURL, "https_proxy="+proxyURL,
		"NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1",
		"SSL_CERT_FILE="+c.caFile, "REQUESTS_CA_BUNDLE="+c.caFile,
		"NODE_EXTRA_CA_CERTS="+c.caFile, "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE="+c.caFile,
		"CLOUDSDK_PROXY_TYPE=http", "CLOUDSDK_PROXY_ADDRESS="+host, "CLOUDSDK_PROXY_PORT="+port,
	)
	return append(env, extra...)
}

// confCellNote says how a passing cell was reached when that is not plainly
// the way every other client goes; direct means the cell's requests do not
// go through the proxy (so it is not checked for them).
func confCellNote(client, flow string) (note string, direct bool) {
	mds := strings.HasPrefix(flow, "mds_")
	switch {
	case mds && (client == "go-auth" || client == "go-oauth2"):
		return "with GCE_METADATA_HOST: Go's metadata client never uses a proxy", true
	case mds && client == "gcloud":
		return "with GCE_METADATA_ROOT/HOST: gcloud's GCE check never uses a proxy", true
	case flow == "mds_project" && client == "python":
		return "with GCE_METADATA_IP/HOST: google.auth.default() probes with http.client, which ignores proxies", true
	case flow == "ext_file" && client == "gcloud":
		return "as gcloud's own OAuth client, read from the installed SDK's core/config.py and registered with the fake", false
	case flow == "ext_aws" && client == "gcloud":
		return "instance metadata through the proxy: gcloud's proxy property carries loopback requests too", false
	}
	return "", false
}

// runCell runs one client on one flow and returns its output.
func (c *confFixture) runCell(t *testing.T, client, flow string) confOut {
	t.Helper()
	p := c.params()
	if cell, ok := confExtraCells[client+"/"+flow]; ok { // conformance_wire_test.go
		return cell(t, c, p)
	}
	switch flow {
	case "tokeninfo_v1":
		p.URL = "https://www.googleapis.com/oauth2/v1/tokeninfo?access_token=" + url.QueryEscape(c.access)
	case "not_found":
		p.URL = "https://www.googleapis.com" + confNotFoundPath
	}
	switch client {
	case "go-auth", "go-oauth2":
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		extra := []string{confGoPeerEnv + "=" + client + "/" + flow}
		if strings.HasPrefix(flow, "mds_") {
			extra = append(extra, "GCE_METADATA_HOST="+c.host)
		}
		return decode[confOut](t, run(t, ".", c.env(t, flow, extra...), p, exe))
	case "python":
		py := pythonPeer()
		extra := append(slices.Clone(py.env), pythonEnv...)
		if _, direct := confCellNote(client, flow); direct {
			extra = append(extra, "GCE_METADATA_IP="+c.host, "GCE_METADATA_HOST="+c.host)
		}
		env := c.env(t, flow, extra...)
		return decode[confOut](t, run(t, "python", env, p, py.path, "conf_flows.py", flow))
	case "node":
		var extra []string
		if flow == "mds_project" {
			// getProjectId asks `gcloud config config-helper` first: give it
			// an empty configuration and a closed metadata port, so the
			// answer is Node's own request.
			extra = append(extra, "CLOUDSDK_CONFIG="+t.TempDir(), "GCE_METADATA_ROOT=127.0.0.1:1")
		}
		return decode[confOut](t, run(t, "node", c.env(t, flow, extra...), p, nodePeer().path, "conf_flows.js", flow))
	case "gcloud":
		return c.runGcloud(t, flow, p)
	}
	t.Fatalf("unknown client %q", client)
	return confOut{}
}

// runGcloud runs the gcloud commands of a flow in a fresh configuration.
func (c *confFixture) runGcloud(t *testing.T, flow string, p confParams) confOut {
	t.Helper()
	extra := []string{
		"CLOUDSDK_CONFIG=" + filepath.Join(t.TempDir(), "gcloud"),
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
	}
	if strings.HasPrefix(flow, "mds_") {
		extra = append(extra, "GCE_METADATA_ROOT="+c.host, "GCE_METADATA_HOST="+c.host)
	}
	env := c.env(t, flow, extra...)
	gcloud := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(string(run(t, c.dir, env, nil, gcloudPeer().path, append(args, "--verbosity=error")...)))
	}
	switch flow {
	case "sa_access":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Token: gcloud("auth", "print-access-token")}
	case "sa_id":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Token: gcloud("auth", "print-identity-token", "--audiences="+p.Audience)}
	case "user_refresh":
		// `auth login --cred-file` takes no authorized_user file; the
		// application-default commands read it from the variable.
		env = append(env, "GOOGLE_APPLICATION_CREDENTIALS="+p.UserFile)
		return confOut{Token: gcloud("auth", "application-default", "print-access-token")}
	case "mds_token":
		return confOut{Token: gcloud("auth", "print-access-token")}
	case "mds_id":
		return confOut{Token: gcloud("auth", "print-identity-token", "--audiences="+p.Audience)}
	case "mds_project":
		return confOut{Project: gcloud("config", "get-value", "project")}
	case "imp_access":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Token: gcloud("auth", "print-access-token", "--impersonate-service-account="+p.Target)}
	case "ext_file":
		// Without service_account_impersonation_url gcloud authenticates
		// the STS exchange with its own OAuth client: the fake must know it.
		cl, err := gcloudClient()
		if err != nil {
			t.Fatalf("gcloud's OAuth client: %v", err)
		}
		c.fake.AddOAuthClient(cl.id, cl.secret)
		gcloud("auth", "login", "--cred-file="+p.ExtFile)
		return confOut{Token: gcloud("auth", "print-access-token")}
	case "ext_aws":
		// The role's credentials from the fake's instance metadata, which
		// gcloud asks through its proxy like everything else.
		gcloud("auth", "login", "--cred-file="+p.ExtAWSFile)
		return confOut{Token: gcloud("auth", "print-access-token")}
	case "imp_id":
		gcloud("auth", "activate-service-account", "--key-file="+p.KeyFile)
		return confOut{Token: gcloud("auth", "print-identity-token", "--impersonate-service-account="+p.Target,
			"--audiences="+p.Audience, "--include-email")}
	}
	t.Fatalf("no gcloud commands for flow %q", flow)
	return confOut{}
}

// gcloudOAuthClient is an OAuth client id and secret.
type gcloudOAuthClient struct{ id, secret string }

// gcloudClientRE matches an assignment of a quoted string in core/config.py.
var gcloudClientRE = regexp.MustCompile(`(?m)^(CLOUDSDK_CLIENT_ID|CLOUDSDK_CLIENT_NOTSOSECRET)\s*=\s*['"]([^'"\n]+)['"]`)

// gcloudClient reads the OAuth client gcloud authenticates a
// non-impersonating external_account's STS exchange with
// (config.CLOUDSDK_CLIENT_ID and CLOUDSDK_CLIENT_NOTSOSECRET) from the
// installation's lib/googlecloudsdk/core/config.py, so its published secret
// never has to be written into this repository.
var gcloudClient = sync.OnceValues(func() (gcloudOAuthClient, error) {
	var tried []string
	for _, root := range sdkRoots() {
		path := filepath.Join(root, "lib", "googlecloudsdk", "core", "config.py")
		data, err := os.ReadFile(path)
		if err != nil {
			tried = append(tried, path)
			continue
		}
		var cl gcloudOAuthClient
		for _, m := range gcloudClientRE.FindAllSubmatch(data, -1) {
			if string(m[1]) == "CLOUDSDK_CLIENT_ID" {
				cl.id = string(m[2])
			} else {
				cl.secret = string(m[2])
			}
		}
		if cl.id == "" || cl.secret == "" {
			return cl, fmt.Errorf("%s assigns no CLOUDSDK_CLIENT_ID and CLOUDSDK_CLIENT_NOTSOSECRET strings", path)
		}
		return cl, nil
	}
	return gcloudOAuthClient{}, fmt.Errorf("no Cloud SDK core/config.py found (tried %s)", strings.Join(tried, ", "))
})

// confPeerFor returns the peer a client needs, or a zero peer for Go.
func confPeerFor(client string) (peer, bool) {
	switch client {
	case "python":
		return pythonPeer(), true
	case "node":
		return nodePeer(), true
	case "gcloud":
		return gcloudPeer(), true
	}
	return peer{}, false
}

// confGoNA lists the Go cells with no flow in goConfFlows.
func confGoNA(client, flow string) bool {
	_, ok := goConfFlow(client + "/" + flow)
	_, extra := confExtraCells[client+"/"+flow]
	return !ok && !extra && (client == "go-auth" || client == "go-oauth2")
}

func TestConformance(t *testing.T) {
	c := newConfFixture(t)
	results := map[string]map[string]string{}
	for _, fl := range confFlows {
		results[fl.name] = map[string]string{}
		for _, client := range confClients {
			if why, ok := fl.na[client]; ok {
				results[fl.name][client] = "n/a: " + why
				continue
			}
			if confGoNA(client, fl.name) {
				t.Errorf("cell %s × %s has neither a Go flow nor an n/a reason", fl.name, client)
				continue
			}
			outcome := "not run (-run filter)"
			t.Run(fl.name+"/"+client, func(t *testing.T) {
				defer func() {
					switch {
					case t.Skipped():
						outcome = "skipped: peer not installed"
					case t.Failed():
						outcome = "FAIL"
					default:
						outcome = "pass"
						if note, _ := confCellNote(client, fl.name); note != "" {
							outcome += " (" + note + ")"
						}
					}
				}()
				if p, external := confPeerFor(client); external {
					requirePeer(t, p)
				}
				mark := c.seen.mark()
				out := c.runCell(t, client, fl.name)
				fl.check(t, c, client, out)
				seen := c.seen.since(mark)
				if _, direct := confCellNote(client, fl.name); !direct && fl.want != "" {
					host, prefix, _ := strings.Cut(fl.want, " ")
					if !slices.ContainsFunc(seen, func(e string) bool {
						h, p, _ := strings.Cut(e, " ")
						if host == "metadata" && (h == "metadata.google.internal" || h == "169.254.169.254") {
							h = host
						}
						return h == host && strings.HasPrefix(p, prefix)
					}) {
						t.Errorf("the proxy passed on no request for %s%s; it saw %q", host, prefix, seen)
					}
				}
				t.Logf("through the proxy: %q", seen)
			})
			results[fl.name][client] = outcome
		}
	}
	table := confTable(results)
	t.Log("\n" + table)
	if path := os.Getenv("CONFORMANCE_REPORT"); path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Errorf("write report: %v", err)
		} else if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}

// confTable renders the matrix: one row per flow, one column per client,
// then the n/a reasons as notes so the table stays narrow.
func confTable(results map[string]map[string]string) string {
	var b strings.Builder
	var notes []string
	ref := func(note string) int { // the note's number, reusing equal notes
		if i := slices.Index(notes, note); i >= 0 {
			return i + 1
		}
		notes = append(notes, note)
		return len(notes)
	}
	b.WriteString("| flow | " + strings.Join(confClients, " | ") + " |\n|---|" + strings.Repeat("---|", len(confClients)) + "\n")
	for _, fl := range confFlows {
		row := []string{fl.title}
		for _, client := range confClients {
			r := results[fl.name][client]
			if long, ok := strings.CutPrefix(r, "n/a: "); ok {
				r = fmt.Sprintf("n/a [%d]", ref(long))
			} else if head, note, ok := strings.Cut(r, " ("); ok {
				r = fmt.Sprintf("%s [%d]", head, ref(strings.TrimSuffix(note, ")")))
			}
			row = append(row, r)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
	for i, n := range notes {
		fmt.Fprintf(&b, "[%d] %s\n", i+1, n)
	}
	return b.String()
}
