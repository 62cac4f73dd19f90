package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Golden files hold what gcptoken prints, byte for byte: every command's
// help, every --format of print-access-token and print-identity-token
// (--shell dialects too), explain, info, verify, the configure-* commands'
// printed configuration, create-cred-config's files, and the one-line errors
// of bad input. They live in testdata/golden/, one file per case.
//
// After a deliberate change to an output, or after merging branches that
// change outputs, regenerate them and review the diff before committing:
//
//	go test ./internal/cli -run Golden -update
//
// -update also deletes golden files that no case writes any more. Tokens,
// times, durations, key IDs, ports and paths are replaced with placeholders
// (goldenNormalizer), so the files do not change from run to run. The
// files record the Unix output; Windows' paths and default shell differ.
var updateGolden = flag.Bool("update", false, "rewrite internal/cli/testdata/golden from the current outputs")

const goldenDir = "testdata/golden"

// goldenWritten records the golden files this run compared or wrote, so
// that checkStaleGolden can find the ones no case owns.
var goldenWritten sync.Map

// goldenCase is one command line whose transcript is compared with
// testdata/golden/<name>.golden.
type goldenCase struct {
	name  string
	args  []string
	env   map[string]string
	stdin string
	// files are shown after the output, with their content (the files a
	// command wrote).
	files []string
}

// goldenNormalizer replaces what changes from run to run with placeholders.
type goldenNormalizer struct {
	literal []string // old, new pairs, applied first, in order
}

// goldenPatterns are applied after the literal replacements, in order.
var goldenPatterns = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), "<JWT>"},
	{regexp.MustCompile(`ya29\.[A-Za-z0-9._-]+`), "<ACCESS_TOKEN>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "<TIME>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( [+-]\d{4})?( [A-Z]{3,5})?`), "<TIME>"},
	{regexp.MustCompile(`("(exp|iat|nbf|auth_time|expires_in|expiry|issued_at|expires_at)":\s*)("\d+"|\d+)`), "${1}<NUMBER>"},
	// jwtinfo.Describe's relative times, in parentheses after a time.
	{regexp.MustCompile(`\((now|in \d+ (second|minute|hour|day)s?|\d+ (second|minute|hour|day)s? ago)\b`), "(<RELATIVE>"},
	{regexp.MustCompile(`\bin \d+ (second|minute|hour|day)s?\b`), "in <DURATION>"},
	{regexp.MustCompile(`\b(exp|iat|nbf|auth_time|expires_in)(:\s+)\d+`), "${1}${2}<NUMBER>"},
	{regexp.MustCompile(`("kid":\s*)"[^"]+"`), `${1}"<KID>"`},
	{regexp.MustCompile(`\bkid(:?\s+)"?[0-9a-f]{8,}"?`), "kid${1}<KID>"},
}

func (n *goldenNormalizer) replace(old, new string) {
	if old != "" {
		n.literal = append(n.literal, old, new)
	}
}

func (n *goldenNormalizer) normalize(s string) string {
	s = strings.NewReplacer(n.literal...).Replace(s)
	for _, p := range goldenPatterns {
		s = p.re.ReplaceAllString(s, p.repl)
	}
	return s
}

// goldenEnv is one test's environment: a fake, a home directory holding
// the credential files, and the normalizer that hides both.
type goldenEnv struct {
	fake *fakegoogle.Running
	env  env
	home string
	norm *goldenNormalizer
}

func newGoldenEnv(t *testing.T) *goldenEnv {
	t.Helper()
	f := startFake(t)
	e := newEnv(t)
	g := &goldenEnv{fake: f, env: e, home: e["HOME"], norm: &goldenNormalizer{}}
	if exe, err := os.Executable(); err == nil {
		g.norm.replace(exe, "<GCPTOKEN>")
	}
	g.norm.replace(g.home, "<HOME>")
	if wd, err := os.Getwd(); err == nil {
		g.norm.replace(wd, "<CWD>") // relative paths made absolute
	}
	g.norm.replace(f.URL, "<FAKE>")
	if sa, ok := f.ServiceAccount(fakegoogle.DefaultServiceAccount); ok {
		g.norm.replace(sa.UniqueID, "<SA_ID>") // random in each fake
	}
	return g
}

// file writes data into the home directory and returns its path.
func (g *goldenEnv) file(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(g.home, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs c and compares its normalised transcript with its golden file.
func (g *goldenEnv) run(t *testing.T, c goldenCase) {
	t.Helper()
	e := env{}
	for k, v := range g.env {
		e[k] = v
	}
	for k, v := range c.env {
		e[k] = v
	}
	r := run(t, e, c.stdin, c.args...)
	var b strings.Builder
	fmt.Fprintf(&b, "$ gcptoken %s\n", strings.Join(quoteArgs(c.args), " "))
	fmt.Fprintf(&b, "exit status %d\n", r.code)
	if r.stdout != "" {
		fmt.Fprintf(&b, "--- stdout\n%s", r.stdout)
		if !strings.HasSuffix(r.stdout, "\n") {
			b.WriteString("\n(no newline at the end)\n")
		}
	}
	if r.stderr != "" {
		fmt.Fprintf(&b, "--- stderr\n%s", r.stderr)
	}
	for _, p := range c.files {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(&b, "--- file %s: %v\n", p, err)
			continue
		}
		fmt.Fprintf(&b, "--- file %s\n%s", p, data)
	}
	compareGolden(t, c.name, g.norm.normalize(b.String()))
}

// runAll runs each case as a parallel subtest.
func (g *goldenEnv) runAll(t *testing.T, cases []goldenCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, c)
		})
	}
}

// quoteArgs shows arguments as a shell would need them.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$*?[]{}|&;<>()\\`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// compareGolden compares got with testdata/golden/<name>.golden, or writes
// it there under -update.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, filepath.FromSlash(name)+".golden")
	if _, dup := goldenWritten.LoadOrStore(filepath.ToSlash(path), true); dup {
		t.Fatalf("two cases write %s", path)
	}
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (new case? run: go test ./internal/cli -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (if intended, run: go test ./internal/cli -run Golden -update)\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff shows the lines of want and got that differ, up to 20 of them.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// TestGolden runs the golden cases, then looks for golden files that no case
// wrote.
func TestGolden(t *testing.T) {
	t.Parallel()
	skipOnWindows(t, "the golden files record the Unix output: paths, quoting and the default --shell differ on Windows")
	// t.Run returns when the parallel subtests inside have finished.
	t.Run("cases", func(t *testing.T) {
		t.Run("help", testGoldenHelp)
		t.Run("tokens", testGoldenTokens)
		t.Run("configure", testGoldenConfigure)
		t.Run("errors", testGoldenErrors)
	})
	checkStaleGolden(t)
}

// testGoldenHelp compares every command's --help with its golden file.
func testGoldenHelp(t *testing.T) {
	t.Parallel()
	g := newGoldenEnv(t)
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		if cmd.Hidden || cmd.Name() == "help" {
			return
		}
		name := "help/" + strings.Join(append([]string{"gcptoken"}, path...), "_")
		args := append(slices.Clone(path), "--help")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g.run(t, goldenCase{name: name, args: args})
		})
		for _, sub := range cmd.Commands() {
			walk(sub, append(slices.Clone(path), sub.Name()))
		}
	}
	walk(newRootCmd(&App{}), nil)
}

// testGoldenTokens covers the formats of print-access-token and
// print-identity-token, and what explain, info and verify print.
func testGoldenTokens(t *testing.T) {
	t.Parallel()
	g := newGoldenEnv(t)
	f := g.fake
	keyJSON, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	key := g.file(t, "sa.json", keyJSON)
	aud := "https://svc.example"
	idt := strings.TrimSpace(run(t, g.env, "", "print-identity-token", "--credentials", key, "--audience", aud, "--no-cache").stdout)
	at := strings.TrimSpace(run(t, g.env, "", "print-access-token", "--credentials", key, "--no-cache").stdout)
	certs := f.URL + "/oauth2/v3/certs"
	var cases []goldenCase
	for _, format := range []string{"text", "header", "json", "env"} {
		for _, cmd := range [][]string{{"print-access-token"}, {"print-identity-token", "--audience", aud}} {
			args := append(slices.Clone(cmd), "--credentials", key, "--format", format)
			if format == "env" {
				args = append(args, "--shell", shellPOSIX) // the default differs on Windows
			}
			cases = append(cases, goldenCase{name: "tokens/" + cmd[0] + "-" + format, args: args})
		}
	}
	for _, shell := range []string{shellFish, shellPowerShell, shellCmd} {
		cases = append(cases, goldenCase{name: "tokens/print-access-token-env-" + shell,
			args: []string{"print-access-token", "--credentials", key, "--format", "env", "--shell", shell}})
	}
	adc := map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key}
	tokeninfo := map[string]string{"GCPTOKEN_TOKENINFO_URL": f.URL + "/tokeninfo"}
	cases = append(cases,
		goldenCase{name: "tokens/explain", args: []string{"explain"}, env: adc},
		goldenCase{name: "tokens/explain-credentials-flag", args: []string{"explain", "--credentials", key, "--no-cache"}},
		goldenCase{name: "tokens/info-id-token", args: []string{"info"}, stdin: idt + "\n"},
		goldenCase{name: "tokens/info-id-token-json", args: []string{"info", "--format", "json", idt}},
		goldenCase{name: "tokens/info-access-token", args: []string{"info", at}, env: tokeninfo},
		goldenCase{name: "tokens/info-access-token-json", args: []string{"info", "--format", "json", at}, env: tokeninfo},
		goldenCase{name: "tokens/verify", args: []string{"verify", idt, "--audience", aud, "--certs-url", certs}},
		goldenCase{name: "tokens/verify-json", args: []string{"verify", idt, "--audience", aud, "--certs-url", certs, "--format", "json"}},
		goldenCase{name: "tokens/verify-wrong-audience", args: []string{"verify", idt, "--audience", "https://other.example", "--certs-url", certs}},
		goldenCase{name: "tokens/verify-not-a-jwt", args: []string{"verify", "ya29.not-a-jwt", "--audience", aud, "--certs-url", certs}},
		goldenCase{name: "tokens/explain-json", args: []string{"explain", "--format", "json"}, env: adc},
		goldenCase{name: "tokens/info-unsigned", args: []string{"info", unsignedJWT}},
		goldenCase{name: "tokens/info-unsigned-json", args: []string{"info", "--format", "json", unsignedJWT}},
		goldenCase{name: "tokens/print-identity-token-audiences-json", args: []string{"print-identity-token", "--credentials", key, "--audiences", aud, "--format", "json"}},
	)
	// status lists the cache: a cache of its own, filled before it runs.
	statusEnv := map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key, "GCPTOKEN_CACHE_DIR": filepath.Join(g.home, "status-cache")}
	for _, args := range [][]string{{"print-access-token"}, {"print-identity-token", "--audience", aud}} {
		e := env{}
		for k, v := range g.env {
			e[k] = v
		}
		for k, v := range statusEnv {
			e[k] = v
		}
		wantCode(t, run(t, e, "", args...), 0)
	}
	cases = append(cases,
		goldenCase{name: "tokens/status", args: []string{"status"}, env: statusEnv},
		goldenCase{name: "tokens/status-json", args: []string{"status", "--format", "json"}, env: statusEnv},
	)
	g.runAll(t, cases)
}

// testGoldenConfigure covers what the configure commands print and what
// create-cred-config writes.
func testGoldenConfigure(t *testing.T) {
	t.Parallel()
	g := newGoldenEnv(t)
	key := g.file(t, "sa.json", []byte(`{}`))
	out := func(name string) string { return filepath.Join(g.home, "out", name+".json") }
	if err := os.MkdirAll(filepath.Join(g.home, "out"), 0o700); err != nil {
		t.Fatal(err)
	}
	dockerDir := filepath.Join(g.home, "docker")
	g.file(t, "docker/config.json", []byte(`{"auths":{"https://index.docker.io/v1/":{}},"credHelpers":{"gcr.io":"gcloud"}}`))
	workload := "projects/123/locations/global/workloadIdentityPools/pool/providers/prov"
	workforce := "locations/global/workforcePools/wf/providers/prov"
	cred := func(name string, args ...string) goldenCase {
		return goldenCase{name: "configure/create-cred-config-" + name,
			args:  append(append([]string{"create-cred-config"}, args...), "--output-file", out(name)),
			files: []string{out(name)}}
	}
	cases := []goldenCase{
		{name: "configure/configure-kubectl", args: []string{"configure-kubectl", "--credentials", key, "--scopes", "cloud-platform,userinfo.email"}},
		{name: "configure/configure-kubectl-v1beta1", args: []string{"configure-kubectl", "--user", "dev", "--api-version", "client.authentication.k8s.io/v1beta1",
			"--impersonate-service-account", "deployer@p.iam.gserviceaccount.com"}},
		{name: "configure/configure-git", args: []string{"configure-git"}},
		{name: "configure/configure-git-hosts", args: []string{"configure-git", "--hosts", "*.sourcemanager.dev,git.example.com:8443", "--credentials", key}},
		{name: "configure/configure-docker-dry-run", args: []string{"configure-docker", "--dry-run", "--registries", "us-docker.pkg.dev,gcr.io"},
			env: map[string]string{"DOCKER_CONFIG": dockerDir}},
		{name: "configure/configure-docker-dry-run-new", args: []string{"configure-docker", "--dry-run"}},
		cred("aws", workload, "--aws"),
		cred("aws-imdsv2-impersonate", "//iam.googleapis.com/"+workload, "--aws", "--enable-imdsv2", "--aws-metadata-endpoint", "http://169.254.169.254/",
			"--service-account", "sa@p.iam.gserviceaccount.com", "--service-account-token-lifetime-seconds", "1200"),
		cred("file", workload, "--credential-source-file", "tok.jwt"),
		cred("file-json", workload, "--credential-source-file", "/var/run/tok.json", "--credential-source-type", "json",
			"--credential-source-field-name", "id_token", "--subject-token-type", "urn:ietf:params:oauth:token-type:id_token"),
		cred("url", workload, "--credential-source-url", "http://169.254.169.254/token?resource=x",
			"--credential-source-headers", "Metadata=true,X-Other=a=b"),
		cred("executable", workload, "--executable-command", "/bin/gettoken --flag", "--executable-timeout-millis", "5000",
			"--executable-output-file", "/tmp/out.json"),
		cred("workforce", workforce, "--credential-source-file", "/tok", "--workforce-pool-user-project", "my-project"),
		cred("endpoints", workload, "--credential-source-file", "/tok", "--sts-endpoint", "https://sts.example/v1/token",
			"--iam-endpoint", "https://iam.example/", "--service-account", "sa@p.iam.gserviceaccount.com"),
		{name: "configure/create-cred-config-emulator", args: []string{"create-cred-config", workload, "--credential-source-file", "/tok",
			"--service-account", "sa@p.iam.gserviceaccount.com", "--output-file", out("emulator")},
			env: map[string]string{"GCPTOKEN_EMULATOR_HOST": "127.0.0.1:8086"}, files: []string{out("emulator")}},
	}
	g.runAll(t, cases)
}

// testGoldenErrors covers the one-line errors of bad input: what the user
// reads, exactly.
func testGoldenErrors(t *testing.T) {
	t.Parallel()
	g := newGoldenEnv(t)
	keyJSON, err := g.fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	key := g.file(t, "sa.json", keyJSON)
	malformed := g.file(t, "malformed.json", []byte(`{"type": "service_account",`))
	pemKey, pemCert := pemFiles(t)
	keyPEM := g.file(t, "key.pem", pemKey)
	certPEM := g.file(t, "cert.pem", pemCert)
	idt := strings.TrimSpace(run(t, g.env, "", "print-identity-token", "--credentials", key, "--audience", "https://svc.example", "--no-cache").stdout)
	jwtFile := g.file(t, "token.jwt", []byte(idt+"\n"))
	clientSecrets := g.file(t, "client_secret.json", []byte(`{"installed":{"client_id":"123.apps.googleusercontent.com","client_secret":"x"}}`))
	missing := filepath.Join(g.home, "does-not-exist.json")
	workload := "projects/123/locations/global/workloadIdentityPools/pool/providers/prov"
	outFile := filepath.Join(g.home, "cred.json")
	ccc := func(args ...string) []string {
		return append(append([]string{"create-cred-config"}, args...), "--output-file", outFile)
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown-command", []string{"print-tokn"}, nil},
		{"unknown-flag", []string{"print-access-token", "--scoops", "x"}, nil},
		{"bad-format", []string{"print-access-token", "--credentials", key, "--format", "yaml"}, nil},
		{"bad-shell", []string{"print-access-token", "--credentials", key, "--format", "env", "--shell", "tcsh"}, nil},
		{"shell-without-env", []string{"print-access-token", "--credentials", key, "--shell", "fish"}, nil},
		{"missing-audience", []string{"print-identity-token", "--credentials", key}, nil},
		{"extra-argument", []string{"print-access-token", "extra"}, nil},
		{"lifetime-not-a-duration", []string{"print-access-token", "--lifetime", "abc"}, nil},
		{"missing-credentials-file", []string{"print-access-token", "--credentials", missing}, nil},
		{"malformed-json", []string{"print-access-token", "--credentials", malformed}, nil},
		{"credentials-pem-key", []string{"print-access-token", "--credentials", keyPEM}, nil},
		{"credentials-certificate", []string{"print-access-token", "--credentials", certPEM}, nil},
		{"credentials-jwt", []string{"print-access-token", "--credentials", jwtFile}, nil},
		{"credentials-client-secrets", []string{"print-access-token", "--credentials", clientSecrets}, nil},
		{"audiences-several", []string{"print-identity-token", "--credentials", key, "--audiences=https://a.example,https://b.example"}, nil},
		{"curl-audiences-several", []string{"curl", "--credentials", key, "--audience", "a,b", "https://a.example/"}, nil},
		{"lifetime-over-12h", []string{"print-access-token", "--credentials", key, "--impersonate-service-account", "t@p.iam.gserviceaccount.com", "--lifetime", "24h"}, nil},
		{"timeout-negative", []string{"print-access-token", "--credentials", key, "--timeout", "-1s"}, nil},
		{"verify-access-token", []string{"verify", "--audience", "a", "ya29.a0AfB_not-an-id-token"}, nil},
		{"emulator-wait-no-state-dir", []string{"emulator", "wait"}, nil},
		{"adc-missing-file", []string{"print-access-token"}, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": missing}},
		{"bad-token-url", []string{"print-access-token", "--credentials", key, "--token-url", "not a url"}, nil},
		{"info-empty", []string{"info"}, nil},
		{"info-two-words", []string{"info", "ya29.a ya29.b"}, nil},
		{"info-garbage-jwt", []string{"info", "eyJhbGciOi.bbb.ccc"}, nil},
		{"verify-no-token", []string{"verify", "--audience", "a"}, nil},
		{"curl-relative-url", []string{"curl", "--credentials", key, "/x"}, nil},
		{"proxy-target-not-a-url", []string{"proxy", "--credentials", key, "--target", "not a url"}, nil},
		{"configure-docker-scheme", []string{"configure-docker", "--registries", "https://gcr.io"}, nil},
		{"configure-docker-wildcard", []string{"configure-docker", "--registries", "*.gcr.io"}, nil},
		{"configure-docker-malformed", []string{"configure-docker"}, map[string]string{"DOCKER_CONFIG": filepath.Join(g.home, "baddocker")}},
		{"configure-git-path", []string{"configure-git", "--hosts", "source.developers.google.com/x"}, nil},
		{"configure-git-missing-credentials", []string{"configure-git", "--credentials", missing}, nil},
		{"configure-kubectl-context-without-write", []string{"configure-kubectl", "--context", "x"}, nil},
		{"configure-kubectl-api-version", []string{"configure-kubectl", "--api-version", "v2"}, nil},
		{"configure-kubectl-user", []string{"configure-kubectl", "--user", " "}, nil},
		{"configure-kubectl-no-kubectl", []string{"configure-kubectl", "--write"}, map[string]string{"PATH": g.home}},
		{"create-cred-config-bad-provider", ccc("projects/my-project/locations/global/workloadIdentityPools/p/providers/x", "--aws"), nil},
		{"create-cred-config-no-source", ccc(workload), nil},
		{"create-cred-config-two-sources", ccc(workload, "--aws", "--credential-source-file", "t"), nil},
		{"create-cred-config-imdsv2-without-aws", ccc(workload, "--credential-source-file", "t", "--enable-imdsv2"), nil},
		{"create-cred-config-metadata-without-aws", ccc(workload, "--credential-source-file", "t", "--aws-metadata-endpoint", "http://x"), nil},
		{"create-cred-config-headers-without-url", ccc(workload, "--credential-source-file", "t", "--credential-source-headers", "a=b"), nil},
		{"create-cred-config-type-without-source", ccc(workload, "--aws", "--credential-source-type", "json"), nil},
		{"create-cred-config-timeout-without-executable", ccc(workload, "--aws", "--executable-timeout-millis", "5000"), nil},
		{"create-cred-config-lifetime-without-sa", ccc(workload, "--aws", "--service-account-token-lifetime-seconds", "900"), nil},
		{"create-cred-config-user-project-on-workload", ccc(workload, "--aws", "--workforce-pool-user-project", "p"), nil},
		{"create-cred-config-aws-workforce", ccc("locations/global/workforcePools/wf/providers/p", "--aws"), nil},
		{"create-cred-config-json-without-field", ccc(workload, "--credential-source-file", "t", "--credential-source-type", "json"), nil},
		{"create-cred-config-field-without-json", ccc(workload, "--credential-source-file", "t", "--credential-source-field-name", "f"), nil},
		{"create-cred-config-bad-type", ccc(workload, "--credential-source-file", "t", "--credential-source-type", "xml"), nil},
		{"create-cred-config-bad-url", ccc(workload, "--credential-source-url", "/relative"), nil},
		{"create-cred-config-bad-header", ccc(workload, "--credential-source-url", "http://x/t", "--credential-source-headers", "nokey"), nil},
		{"create-cred-config-timeout-range", ccc(workload, "--executable-command", "x", "--executable-timeout-millis", "10"), nil},
		{"create-cred-config-bad-service-account", ccc(workload, "--aws", "--service-account", "not-an-email"), nil},
		{"create-cred-config-lifetime-range", ccc(workload, "--aws", "--service-account", "sa@p.iam.gserviceaccount.com", "--service-account-token-lifetime-seconds", "100"), nil},
		{"create-cred-config-bad-sts-endpoint", ccc(workload, "--aws", "--sts-endpoint", "sts"), nil},
		{"create-cred-config-bad-sts-env", ccc(workload, "--aws"), map[string]string{envSTSEndpoint: "sts"}},
		{"create-cred-config-bad-iam-endpoint", ccc(workload, "--aws", "--service-account", "sa@p.iam.gserviceaccount.com", "--iam-endpoint", "ftp://x"), nil},
		{"create-cred-config-bad-emulator-host", ccc(workload, "--aws"), map[string]string{"GCPTOKEN_EMULATOR_HOST": "http://x"}},
		{"create-cred-config-no-output-file", []string{"create-cred-config", workload, "--aws"}, nil},
		{"create-cred-config-output-dir-missing", []string{"create-cred-config", workload, "--aws", "--output-file", filepath.Join(g.home, "nodir", "c.json")}, nil},
		{"create-cred-config-output-is-dir", []string{"create-cred-config", workload, "--aws", "--output-file", g.home}, nil},
	}
	g.file(t, "baddocker/config.json", []byte(`{"credHelpers":["gcr.io"]}`))
	var gc []goldenCase
	for _, c := range cases {
		gc = append(gc, goldenCase{name: "errors/" + c.name, args: c.args, env: c.env})
	}
	g.runAll(t, gc)
}

// checkStaleGolden fails on golden files that no case compared (a renamed
// or removed case), and deletes them under -update. It checks only when no
// -run pattern picked out some of the cases.
func checkStaleGolden(t *testing.T) {
	t.Helper()
	if f := flag.Lookup("test.run"); f != nil && strings.Contains(f.Value.String(), "/") {
		return
	}
	var stale []string
	err := filepath.WalkDir(goldenDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := goldenWritten.Load(filepath.ToSlash(p)); !ok {
			stale = append(stale, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(stale)
	for _, p := range stale {
		if *updateGolden {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: no case writes it (remove it, or run: go test ./internal/cli -run Golden -update)", p)
	}
}

// unsignedJWT is an "alg: none" token naming Google as its issuer: info
// must not call it Google's.
const unsignedJWT = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20iLCJhdWQiOiJodHRwczovL3N2Yy5leGFtcGxlIiwic3ViIjoiMSJ9."

// pemFiles makes a PEM private key and a certificate, files people pass as
// credentials by mistake.
func pemFiles(t *testing.T) (key, cert []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	c, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})
}
