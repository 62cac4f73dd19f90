package crosscheck_test

// The endpoint census: every Google URL written in the installed sources of
// the peers this project already checks against (census_extract_test.go
// finds them) must be served by the fake, answering a request through the
// HTTPS proxy (googlehosts) with something other than 404, in Google's
// shape; or match a row of fakegoogle's out-of-scope table
// (fakegoogle.NotServed), which says why not. A peer update that brings a
// new URL fails the census until it is one or the other. Run with
// `make census`; the table is logged and, when CENSUS_REPORT names a file,
// written there.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
)

// censusSource is one peer's installed source.
type censusSource struct {
	peer string
	root string
	keep func(rel string) bool // which files under root count
	// missing says why the source cannot be read ("" when it can).
	missing, install string
}

// goModuleDir returns where the module cache holds the version of module
// that go.mod asks for.
func goModuleDir(module string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("go list -m %s: %v (run `go mod download`)", module, err)
	}
	return dir, nil
}

func goSource(rel string) bool {
	// internal/testutil holds fakes of other APIs for the module's own tests.
	return strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") && !strings.Contains(rel, "testutil")
}

func pySource(rel string) bool { return strings.HasSuffix(rel, ".py") }

// censusSources lists the peers' sources: google-auth as bundled with the
// Cloud SDK (google.auth and google.oauth2), google-auth-library's compiled
// JavaScript, the Go modules at go.mod's versions, and gcloud's credential
// code with the auth section of its properties.
func censusSources() []censusSource {
	var out []censusSource
	py := pythonPeer()
	thirdParty := ""
	for _, kv := range py.env {
		if v, ok := strings.CutPrefix(kv, "PYTHONPATH="); ok {
			thirdParty = v
		}
	}
	pySrc := censusSource{peer: "python", root: filepath.Join(thirdParty, "google"), missing: py.missing, install: py.install,
		keep: func(rel string) bool {
			return pySource(rel) && (strings.HasPrefix(rel, "auth"+string(filepath.Separator)) || strings.HasPrefix(rel, "oauth2"+string(filepath.Separator)))
		}}
	out = append(out, pySrc)
	node := nodePeer()
	out = append(out, censusSource{peer: "node", root: filepath.Join(nodeModuleDir, "build", "src"), missing: node.missing, install: node.install,
		keep: func(rel string) bool { return strings.HasSuffix(rel, ".js") }})
	for _, m := range []struct{ peer, module, sub string }{
		{"go-auth", "cloud.google.com/go/auth", ""},
		{"go-oauth2", "golang.org/x/oauth2", "google"},
		{"go-api-idtoken", "google.golang.org/api", "idtoken"},
	} {
		src := censusSource{peer: m.peer, keep: goSource, install: "go mod download"}
		if dir, err := goModuleDir(m.module); err != nil {
			src.missing = err.Error()
		} else {
			src.root = filepath.Join(dir, m.sub)
		}
		out = append(out, src)
	}
	gc := censusSource{peer: "gcloud", missing: py.missing, install: py.install, keep: pySource}
	if thirdParty != "" {
		gc.root = filepath.Join(filepath.Dir(thirdParty), "googlecloudsdk", "core", "credentials")
	}
	return append(out, gc)
}

// gcloudAuthProperties returns the URLs of the auth section of gcloud's
// properties (class _SectionAuth: auth_host, token_host, mtls_token_host
// defaults).
func gcloudAuthProperties(credentialsDir string) ([]censusHit, error) {
	path := filepath.Join(filepath.Dir(credentialsDir), "properties.py")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(data)
	start := strings.Index(text, "\nclass _SectionAuth(")
	if start < 0 {
		return nil, fmt.Errorf("%s has no class _SectionAuth", path)
	}
	body := text[start+1:]
	if end := strings.Index(body, "\nclass "); end > 0 {
		body = body[:end]
	}
	return hitsOf(body, "../properties.py (_SectionAuth)"), nil
}

// censusEntry is one URL of the census with the peers that name it.
type censusEntry struct {
	url    censusURL
	peers  map[string][]string // peer → files
	status string              // "served (…)" or "out of scope: …"
	ok     bool
}

// collectCensus extracts every source's URLs.
func collectCensus(t *testing.T) (map[censusURL]*censusEntry, map[string]int) {
	t.Helper()
	entries := map[censusURL]*censusEntry{}
	perPeer := map[string]int{}
	for _, src := range censusSources() {
		if src.missing != "" {
			requirePeer(t, peer{name: src.peer, missing: src.missing, install: src.install})
		}
		hits, err := scanTree(src.root, src.keep)
		if err == nil && src.peer == "gcloud" {
			var more []censusHit
			more, err = gcloudAuthProperties(src.root)
			hits = append(hits, more...)
		}
		if err != nil {
			t.Fatalf("scan %s (%s): %v", src.peer, src.root, err)
		}
		seen := map[censusURL]bool{}
		for _, h := range hits {
			e := entries[h.url]
			if e == nil {
				e = &censusEntry{url: h.url, peers: map[string][]string{}}
				entries[h.url] = e
			}
			e.peers[src.peer] = append(e.peers[src.peer], h.where)
			if !seen[h.url] {
				seen[h.url] = true
				perPeer[src.peer]++
			}
		}
	}
	return entries, perPeer
}

// censusCanaries are URLs each peer's source is known to build in a way
// only a working extractor sees: if one goes missing, the extraction broke
// (or the peer changed, which deserves a look).
var censusCanaries = []struct{ peer, url string }{
	{"python", "iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateAccessToken"}, // "…/projects/-" + "/serviceAccounts/{}:…"
	{"python", "www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"},   // adjacent literals
	{"python", "cloudresourcemanager.googleapis.com/v1/projects/"},
	{"node", "cloudresourcemanager.googleapis.com/v1/projects/"}, // host from ${this.universeDomain}
	{"node", "www.gstatic.com/iap/verify/public_key"},
	{"go-auth", "sts.googleapis.com/v1/token"}, // https://sts.UNIVERSE_DOMAIN/v1/token
	{"go-oauth2", "oauth2.googleapis.com/device/code"},
	{"go-api-idtoken", "www.gstatic.com/iap/verify/public_key-jwk"},
	{"gcloud", "sts.googleapis.com/v1/introspect"},
	{"gcloud", "oauth2.googleapis.com/token"}, // properties: DEFAULT_TOKEN_HOST
}

// censusExampleScopes are scope-shaped URLs in docstrings that are not
// scopes of any API.
var censusExampleScopes = map[string]string{
	"https://www.googleapis.com/auth/any-api": "a placeholder in google-auth's docstrings",
}

func TestEndpointCensus(t *testing.T) {
	entries, perPeer := collectCensus(t)
	for _, c := range censusCanaries {
		e := entries[urlKey(c.url)]
		if e == nil || e.peers[c.peer] == nil {
			t.Errorf("census canary: %s not found in %s's source: the extraction (census_extract_test.go) broke, or the peer changed", c.url, c.peer)
		}
	}
	front := newCensusFront(t)
	notServed := fakegoogle.NotServed()
	used := make([]bool, len(notServed))
	servedPaths := map[censusURL]bool{}
	keys := sortedCensusKeys(entries)
	for _, k := range keys { // exact templates first: prefixes may lean on them
		e := entries[k]
		if strings.HasSuffix(k.path, "/") {
			continue
		}
		e.judge(t, front, notServed, used, servedPaths)
	}
	for _, k := range keys {
		if e := entries[k]; strings.HasSuffix(k.path, "/") {
			e.judge(t, front, notServed, used, servedPaths)
		}
	}
	for i, ns := range notServed {
		if !used[i] {
			t.Errorf("out-of-scope row %s%s matches no URL any peer names: drop it from fakegoogle's table", ns.Host, ns.Path)
		}
	}
	table := censusTable(keys, entries, perPeer)
	t.Log("\n" + table)
	if path := os.Getenv("CENSUS_REPORT"); path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Errorf("write report: %v", err)
		} else if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Errorf("write report: %v", err)
		}
	}
}

func urlKey(s string) censusURL {
	host, path, _ := strings.Cut(s, "/")
	if path != "" {
		path = "/" + path
	}
	return censusURL{host: host, path: path}
}

func sortedCensusKeys(entries map[censusURL]*censusEntry) []censusURL {
	keys := make([]censusURL, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// judge decides whether e is served or out of scope, and fails the test
// when it is neither, or both.
func (e *censusEntry) judge(t *testing.T, front *censusFront, notServed []fakegoogle.NotServedURL, used []bool, servedPaths map[censusURL]bool) {
	t.Helper()
	row := slices.IndexFunc(notServed, func(n fakegoogle.NotServedURL) bool { return n.Matches(e.url.host, e.url.path) })
	if row >= 0 {
		used[row] = true
	}
	if e.url.host == "www.googleapis.com" && strings.HasPrefix(e.url.path, "/auth/") {
		scope := "https://" + e.url.String()
		if why, ok := censusExampleScopes[scope]; ok {
			e.status, e.ok = "out of scope: "+why, true
		} else if !front.fake.KnownScope(scope) {
			e.status = "FAIL: a scope the fake does not know"
			t.Errorf("scope %s (named by %s) is unknown to the fake: Google accepts it, so add it to fakegoogle's scope list", scope, e.peerList())
			return
		}
	}
	served, how := front.serves(t, e.url, servedPaths)
	switch {
	case served && row >= 0:
		e.status = "FAIL: served, yet listed out of scope"
		t.Errorf("%s is served (%s) and also listed out of scope (%q): drop the row", e.url, how, notServed[row].Reason)
	case served:
		e.status, e.ok = "served ("+how+")", true
		servedPaths[e.url] = true
	case row >= 0:
		if e.status == "" {
			e.status = "out of scope: " + notServed[row].Reason
		}
		e.ok = true
	default:
		e.status = "FAIL: not served (" + how + ")"
		t.Errorf("%s (named by %s) is neither served by the fake (%s) nor listed in fakegoogle.NotServed: serve it or list it with a reason",
			e.url, e.peerList(), how)
	}
}

func (e *censusEntry) peerList() string {
	var out []string
	for _, p := range []string{"python", "node", "go-auth", "go-oauth2", "go-api-idtoken", "gcloud"} {
		if files := e.peers[p]; files != nil {
			out = append(out, p+" ("+strings.Join(files[:min(2, len(files))], ", ")+")")
		}
	}
	return strings.Join(out, ", ")
}

// censusFront is the fake behind the intercepting proxy, and a client that
// goes through it trusting only its CA.
type censusFront struct {
	fake   *fakegoogle.Running
	client *http.Client
}

func newCensusFront(t *testing.T) *censusFront {
	t.Helper()
	// Probing URLs the fake does not serve makes it warn, by design: the
	// census's logger keeps those out of the failing test log.
	quiet := slog.New(slog.DiscardHandler)
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	ca, err := googlehosts.NewCA(nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := googlehosts.New(&googlehosts.Options{Fake: fake, CA: ca, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proxy.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("proxy: %v", err)
		}
	})
	proxyURL := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	return &censusFront{fake: fake, client: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}},
	}}
}

// censusFill is the value a probe puts in a template's variable part,
// chosen by the path segment before it.
func censusFill(host, before string) string {
	switch before {
	case "serviceAccounts":
		return fakegoogle.DefaultTargetServiceAccount
	case "x509", "jwk", "raw":
		return fakegoogle.DefaultServiceAccount
	case "projects":
		if host == "cloudresourcemanager.googleapis.com" {
			return fakegoogle.DefaultProjectNumber
		}
		return fakegoogle.DefaultProjectID
	}
	return "census"
}

// concrete turns a template into a path to ask for. A template ending in
// "/" is a prefix the code appends a value to.
func concrete(u censusURL) string {
	segs := strings.Split(u.path, "/")
	for i, s := range segs {
		if strings.Contains(s, "{}") {
			segs[i] = strings.ReplaceAll(s, "{}", url.PathEscape(censusFill(u.host, segs[max(i-1, 0)])))
		}
	}
	p := strings.Join(segs, "/")
	if strings.HasSuffix(p, "/") && len(segs) > 1 {
		p += url.PathEscape(censusFill(u.host, segs[len(segs)-2]))
	}
	return p
}

// serves asks the proxy for u: GET, then (for 404 or 405, as a POST-only
// Google method answers a GET) POST with an empty form. It is served when
// the answer is not 404 and is Google-shaped: JSON that parses and carries
// no fakegoogle-only wording, or an HTML page. A prefix is also served when
// a served URL of the census extends it.
func (f *censusFront) serves(t *testing.T, u censusURL, servedPaths map[censusURL]bool) (bool, string) {
	t.Helper()
	if u.path == "" {
		return false, "a bare host answers 404"
	}
	target := "https://" + u.host + concrete(u)
	status, shape := f.ask(http.MethodGet, target)
	method := "GET"
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		if s2, sh2 := f.ask(http.MethodPost, target); s2 != 0 {
			status, shape, method = s2, sh2, "POST"
		}
	}
	how := fmt.Sprintf("%s %s → %d", method, concrete(u), status)
	if status != 0 && status != http.StatusNotFound && status < 500 && shape == "" {
		return true, how
	}
	if strings.HasSuffix(u.path, "/") {
		for s := range servedPaths {
			if s.host == u.host && strings.HasPrefix(s.path, u.path) {
				return true, "a prefix of " + s.String() + ", which is served"
			}
		}
	}
	if shape != "" {
		how += ", " + shape
	}
	return false, how
}

// ask sends one request; shape is "" for a Google-shaped answer, else what
// is wrong with it.
func (f *censusFront) ask(method, target string) (status int, shape string) {
	var body io.Reader
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return 0, err.Error()
	}
	if method == http.MethodPost {
		req.Body = io.NopCloser(strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, "no answer: " + err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		if !json.Valid(data) {
			return resp.StatusCode, "JSON that does not parse"
		}
		if strings.Contains(string(data), "fakegoogle:") {
			return resp.StatusCode, "a body with fakegoogle's own wording, not Google's: " + strings.TrimSpace(string(data))
		}
	case strings.HasPrefix(ct, "text/html"):
	case resp.StatusCode/100 == 3:
	default:
		return resp.StatusCode, fmt.Sprintf("Content-Type %q, not Google's JSON or HTML: %.120s", ct, data)
	}
	return resp.StatusCode, ""
}

// censusTable renders the census: per-peer counts, then one row per URL.
func censusTable(keys []censusURL, entries map[censusURL]*censusEntry, perPeer map[string]int) string {
	var b strings.Builder
	served, out, failed := 0, 0, 0
	for _, k := range keys {
		switch e := entries[k]; {
		case !e.ok:
			failed++
		case strings.HasPrefix(e.status, "served"):
			served++
		default:
			out++
		}
	}
	fmt.Fprintf(&b, "%d Google URLs in the peers' sources: %d served by the fake, %d out of scope, %d failing.\n\n", len(keys), served, out, failed)
	b.WriteString("| peer | URLs |\n|---|---|\n")
	for _, p := range []string{"python", "node", "go-auth", "go-oauth2", "go-api-idtoken", "gcloud"} {
		fmt.Fprintf(&b, "| %s | %d |\n", p, perPeer[p])
	}
	b.WriteString("\n| host | path template | found in | status |\n|---|---|---|---|\n")
	for _, k := range keys {
		e := entries[k]
		var peers []string
		for p := range e.peers {
			peers = append(peers, p)
		}
		sort.Strings(peers)
		path := k.path
		if path == "" {
			path = "(none)"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", k.host, path, strings.Join(peers, ", "), e.status)
	}
	return b.String()
}

// TestDiscoveryServed fetches Google's discovery document through the
// proxy and asks for every URL it lists: none may answer 404, since a
// client that follows the document must find what it advertises.
func TestDiscoveryServed(t *testing.T) {
	front := newCensusFront(t)
	resp, err := front.client.Get("https://accounts.google.com/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for key, v := range doc {
		u, ok := v.(string)
		if !ok || !strings.HasPrefix(u, "https://") || key == "issuer" {
			continue
		}
		n++
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if served, how := front.serves(t, censusURL{host: pu.Host, path: pu.Path}, nil); !served {
			t.Errorf("the discovery document's %s %s is not served: %s", key, u, how)
		} else {
			t.Logf("%s %s: %s", key, u, how)
		}
	}
	if n < 6 {
		t.Errorf("the discovery document lists %d endpoint URLs; want at least 6", n)
	}
}
