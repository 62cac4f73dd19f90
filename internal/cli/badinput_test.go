package cli

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// badInputDir is the committed corpus (testdata/README says: all FAKE).
const badInputDir = "../../testdata/badinput"

// noLeak fails if stderr carries anything secret-looking.
func noLeak(t *testing.T, r result, secrets ...string) {
	t.Helper()
	// "PRIVATE KEY" alone may be named (as a PEM block type); key
	// material starts with the PEM header or base64 DER ("MII").
	for _, s := range append([]string{"-----BEGIN", "MIIE", "MIIB", "MIIC"}, secrets...) {
		if s != "" && strings.Contains(r.stderr, s) {
			t.Errorf("stderr leaks %.12q…: %s", s, r.stderr)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	key := saKeyFile(t, f)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := file("malformed.json", `{"type": "service_account",`)
	revokedUser, rt := userFile(t, f)
	f.RevokeToken(rt)
	missing := filepath.Join(dir, "does-not-exist.json")
	down := closedPort(t)

	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantCode  int
		fragments []string
	}{
		{"unknown command", nil, []string{"print-tokn"}, ExitUsage, []string{"unknown command"}},
		{"unknown flag", nil, []string{"print-access-token", "--scoops", "x"}, ExitUsage, []string{"--scoops"}},
		{"unknown flag of a subcommand", nil, []string{"cache", "clear", "--bogus"}, ExitUsage, []string{"--bogus"}},
		{"bad format", nil, []string{"print-access-token", "--credentials", key, "--format", "yaml"}, ExitUsage, []string{"--format", "yaml"}},
		{"info bad format", nil, []string{"info", "--format", "yaml", "ya29.x"}, ExitUsage, []string{"--format", "yaml"}},
		{"missing audience", nil, []string{"print-identity-token", "--credentials", key}, ExitUsage, []string{"--audience"}},
		{"empty audience", nil, []string{"print-identity-token", "--credentials", key, "--audience", ""}, ExitUsage, []string{"--audience"}},
		{"extra argument", nil, []string{"print-access-token", "extra"}, ExitUsage, []string{"print-access-token"}},
		{"lifetime not a duration", nil, []string{"print-access-token", "--lifetime", "abc"}, ExitUsage, []string{"--lifetime", "abc"}},
		{"curl without URL", nil, []string{"curl"}, ExitUsage, []string{"curl"}},
		{"curl relative URL", nil, []string{"curl", "--credentials", key, "/x"}, ExitUsage, []string{"/x"}},
		{"curl bad header", nil, []string{"curl", "--credentials", key, "-H", "nocolon", f.URL}, ExitUsage, []string{"nocolon"}},
		{"curl missing data file", nil, []string{"curl", "--credentials", key, "-d", "@" + missing, f.URL}, ExitUsage, []string{missing}},
		{"missing credentials file", nil, []string{"print-access-token", "--credentials", missing}, ExitCredentials, []string{missing}},
		{"credentials is a directory", nil, []string{"print-access-token", "--credentials", dir}, ExitCredentials, []string{dir}},
		{"malformed JSON", nil, []string{"print-access-token", "--credentials", malformed}, ExitCredentials, []string{malformed}},
		{"GOOGLE_APPLICATION_CREDENTIALS missing file", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": missing}, []string{"print-access-token"}, ExitCredentials, []string{"GOOGLE_APPLICATION_CREDENTIALS", missing}},
		{"revoked refresh token", nil, []string{"print-access-token", "--credentials", revokedUser, "--no-cache"}, ExitCredentials, []string{"invalid_grant", "expired or revoked"}},
		{"unreachable token endpoint", nil, []string{"print-access-token", "--credentials", key, "--no-cache", "--token-url", down + "/token"}, ExitUnavailable, []string{down}},
		{"bad token URL flag", nil, []string{"print-access-token", "--credentials", key, "--token-url", "not a url"}, ExitUsage, []string{"token-url"}},
		{"empty scopes fall back to cloud-platform", nil, []string{"print-access-token", "--credentials", key, "--no-cache", "--scopes", ""}, ExitOK, nil},
		{"info garbage JWT", nil, []string{"info", "eyJhbGciOi.bbb.ccc"}, ExitCredentials, []string{"JWT"}},
		{"info empty", nil, []string{"info"}, ExitUsage, []string{"no token"}},
		{"info two words", nil, []string{"info", "ya29.a ya29.b"}, ExitUsage, []string{"one token"}},
		{"info bad tokeninfo URL flag", nil, []string{"info", "--tokeninfo-url", "nope", "ya29.x"}, ExitUsage, []string{"--tokeninfo-url", "nope"}},
		{"info tokeninfo unreachable", map[string]string{"GCPTOKEN_TOKENINFO_URL": down + "/tokeninfo"}, []string{"info", "ya29.x"}, ExitUnavailable, []string{down}},
		{"verify no token", nil, []string{"verify", "--audience", "a"}, ExitUsage, []string{"no token"}},
		{"verify bad certs URL", nil, []string{"verify", "x.y.z", "--audience", "a", "--certs-url", "::bad"}, ExitUsage, []string{"::bad"}},
		{"proxy target not a URL", nil, []string{"proxy", "--credentials", key, "--target", "not a url"}, ExitUsage, []string{"--target", "not a url"}},
		{"proxy bad listen", nil, []string{"proxy", "--credentials", key, "--target", "http://x", "--listen", "bad"}, ExitUsage, []string{"--listen", "bad"}},
		{"proxy bad header", nil, []string{"proxy", "--credentials", key, "--target", "http://x", "--header", "x-bad"}, ExitUsage, []string{"--header", "x-bad"}},
		{"metadata-server missing config", nil, []string{"metadata-server", "--credentials", key, "--config", missing}, ExitUsage, []string{"--config", missing}},
		{"metadata-server config is a key file", nil, []string{"metadata-server", "--credentials", key, "--config", key}, ExitUsage, []string{"--config", key, "unknown field"}},
		{"emulator bad listen", nil, []string{"emulator", "--listen", "nonsense"}, ExitUsage, []string{"--listen"}},
		{"emulator fault rate out of range", nil, []string{"emulator", "--fault", "/token:rate=5,status=503"}, ExitUsage, []string{"--fault", "/token:rate=5,status=503", "[0, 1]"}},
		{"emulator fault unknown key", nil, []string{"emulator", "--fault", "/token:colour=red"}, ExitUsage, []string{"--fault", "colour"}},
		{"emulator fault seed negative", nil, []string{"emulator", "--fault-seed", "-1"}, ExitUsage, []string{"--fault-seed"}},
		{"emulator clock skew not a duration", nil, []string{"emulator", "--clock-skew", "abc"}, ExitUsage, []string{"--clock-skew", "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			for k, v := range tt.env {
				e[k] = v
			}
			r := run(t, e, "", tt.args...)
			wantCode(t, r, tt.wantCode)
			if tt.wantCode == ExitOK {
				return
			}
			wantOneLineError(t, r, tt.fragments...)
			noLeak(t, r, rt)
		})
	}
}

// credCorpus says what each committed bad credential file must produce
// (beyond exit code 3 and an error naming the file). Every file in
// testdata/badinput/creds must have an entry, and every entry a file.
var credCorpus = map[string][]string{
	"binary-garbage.bin":                       {"not UTF-8 text"},
	"deeply-nested.json":                       {"malformed JSON", "max depth"},
	"ext-aws-environment-id.json":              {"environment_id", "aws1"},
	"ext-executable-timeout-out-of-range.json": {"executable.timeout_millis", "outside [5000, 120000]"},
	"ext-json-format-no-field.json":            {"format.subject_token_field_name", "missing"},
	"ext-lifetime-out-of-range.json":           {"token_lifetime_seconds", "outside [600, 43200]"},
	"ext-missing-audience.json":                {"audience", "missing"},
	"ext-missing-credential-source.json":       {"credential_source", "missing"},
	"ext-token-url-not-url.json":               {"token_url", "not an absolute"},
	"ext-two-sources.json":                     {"credential_source", "want exactly one source"},
	"ext-user-project-workload-pool.json":      {"workforce_pool_user_project", "workforce pool audience"},
	"extuser-missing-token-url.json":           {"token_url", "missing", "external_account_authorized_user"},
	"impersonated-bad-url.json":                {"service_account_impersonation_url", "not an absolute"},
	"impersonated-missing-source.json":         {"source_credentials", "missing"},
	"impersonated-source-string.json":          {"source_credentials", "not a JSON object"},
	"impersonated-source-unknown-type.json":    {"source_credentials", "alien_account"},
	"json-null.json":                           {"not a JSON object"},
	"malformed-single-quotes.json":             {"malformed JSON", "line 1"},
	"malformed-trailing-comma.json":            {"malformed JSON", "line 1"},
	"malformed-truncated.json":                 {"malformed JSON", "unexpected end"},
	"not-object-array.json":                    {"not a JSON object", "array"},
	"not-object-string.json":                   {"not a JSON object", "string"},
	"nul-bytes.json":                           {"not UTF-8 text"},
	"sa-client-email-number.json":              {"client_email", "must be a string"},
	"sa-missing-client-email.json":             {"client_email", "missing"},
	"sa-missing-private-key.json":              {"private_key", "missing"},
	"sa-private-key-not-pem.json":              {"private_key", "not a PEM key"},
	"sa-private-key-number.json":               {"private_key", "must be a string"},
	"sa-token-uri-number.json":                 {"token_uri", "must be a string"},
	"two-objects.json":                         {"malformed JSON", "after top-level value"},
	"type-duplicate.json":                      {"unknown credential type", "alien_account"},
	"type-empty.json":                          {"empty \"type\""},
	"type-missing.json":                        {"no \"type\""},
	"type-number.json":                         {"type", "must be a string"},
	"type-unknown.json":                        {"unknown credential type", "alien_account"},
	"user-client-id-array.json":                {"client_id", "must be a string", "array"},
	"user-missing-client-secret.json":          {"client_secret", "missing"},
	"user-missing-refresh-token.json":          {"refresh_token", "missing"},
	"utf16le.json":                             {"UTF-16"},
	"whitespace-only.json":                     {"is empty"},
	// Fields holding terminal escapes, CRLF, bidi overrides or lone UTF-16
	// surrogates: refused, without echoing them.
	"sa-client-email-escape.json":        {"client_email", "control character U+001B"},
	"sa-private-key-id-surrogate.json":   {"private_key_id", "U+FFFD", "surrogate"},
	"sa-token-uri-crlf.json":             {"token_uri", "control character U+000D"},
	"user-account-bidi.json":             {"account", "control character U+202E"},
	"ext-audience-escape.json":           {"audience", "control character U+001B"},
	"ext-source-url-crlf.json":           {"credential_source.url", "control character U+000D"},
	"ext-source-file-surrogate.json":     {"credential_source.file", "U+FFFD"},
	"impersonated-delegate-control.json": {"delegates[0]", "control character U+0007"},
	// Token endpoints that are not http(s): local files, other protocols.
	"user-token-uri-file.json":              {"token_uri", "file:///etc/passwd", "not an absolute http(s) URL"},
	"user-token-uri-gopher.json":            {"token_uri", "gopher:", "not an absolute http(s) URL"},
	"user-token-uri-javascript.json":        {"token_uri", "javascript:", "not an absolute http(s) URL"},
	"user-token-uri-data.json":              {"token_uri", "data:", "not an absolute http(s) URL"},
	"ext-token-url-gopher.json":             {"token_url", "gopher:", "not an absolute http(s) URL"},
	"ext-impersonation-url-javascript.json": {"service_account_impersonation_url", "javascript:", "not an absolute"},
	"ext-source-url-file.json":              {"credential_source", "url", "file:///etc/shadow", "not an absolute"},
	"impersonated-url-data.json":            {"service_account_impersonation_url", "data:", "not an absolute"},
	// A UTF-8 byte-order mark is tolerated (some editors write one): the
	// file parses, and the fake refuses its made-up client.
	"bom.json": nil,
}

// TestBadCredentialFiles runs every committed bad credential file through
// --credentials and through GOOGLE_APPLICATION_CREDENTIALS.
func TestBadCredentialFiles(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	entries, err := os.ReadDir(filepath.Join(badInputDir, "creds"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if _, ok := credCorpus[e.Name()]; !ok {
			t.Errorf("testdata/badinput/creds/%s has no expectation in credCorpus", e.Name())
		}
	}
	for name := range credCorpus {
		if !slices.Contains(names, name) {
			t.Errorf("credCorpus names %s, which is not in testdata/badinput/creds", name)
		}
	}
	for _, name := range names {
		path := filepath.Join(badInputDir, "creds", name)
		want := credCorpus[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, how := range []string{"flag", "env"} {
				e := newEnv(t)
				args := []string{"print-access-token", "--no-cache"}
				if name == "bom.json" { // parses: keep it off the network
					args = append(args, "--token-url", f.URL+"/token")
				}
				if how == "flag" {
					args = append(args, "--credentials", path)
				} else {
					e["GOOGLE_APPLICATION_CREDENTIALS"] = path
				}
				r := run(t, e, "", args...)
				wantCode(t, r, ExitCredentials)
				if name == "bom.json" {
					wantOneLineError(t, r, "invalid_client")
				} else {
					wantOneLineError(t, r, append([]string{path}, want...)...)
				}
				noLeak(t, r, "fake-client-secret", "1//fake-refresh-token")
				noControls(t, r)
			}
		})
	}
}

// noControls fails if the output holds a character that acts on a
// terminal: errors must show what came from a hostile file escaped.
func noControls(t *testing.T, r result) {
	t.Helper()
	if strings.ContainsAny(r.stdout+r.stderr, terminalControls+"\r") {
		t.Errorf("output holds control characters:\nstdout %q\nstderr %q", r.stdout, r.stderr)
	}
}

// TestBadCredentialFilesMadeByTheTest covers inputs that cannot be
// committed: a file over 1 MiB, a 2 GiB sparse file, a symlink loop, an
// unreadable file, a dangling symlink, an empty file, FIFOs no one writes
// (as the credentials and as an external_account's subject-token file),
// /dev/zero, /proc/self/environ, and service-account keys (which need a
// real RSA key) with token URIs that are not http(s).
func TestBadCredentialFilesMadeByTheTest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.json")
	big := append([]byte(`{"type": "service_account", "padding": "`), bytes.Repeat([]byte("A"), 2<<20)...)
	if err := os.WriteFile(huge, append(big, `"}`...), 0o600); err != nil {
		t.Fatal(err)
	}
	loopA, loopB := filepath.Join(dir, "loop-a.json"), filepath.Join(dir, "loop-b.json")
	if err := os.Symlink(loopB, loopA); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(loopA, loopB); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink(filepath.Join(dir, "nowhere.json"), dangling); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse.json")
	sf, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := sf.Truncate(2 << 30); err != nil {
		t.Fatal(err)
	}
	sf.Close()
	unreadable := filepath.Join(dir, "unreadable.json")
	if err := os.WriteFile(unreadable, []byte(`{"type": "service_account",`), 0o000); err != nil {
		t.Fatal(err)
	}
	// As root, mode 000 does not stop reads: the file is then read, and
	// found malformed. Either way the error names the file.
	// On Windows mode 000 only sets the read-only attribute.
	unreadableWant := []string{unreadable, "permission denied"}
	if os.Geteuid() == 0 || runtime.GOOS == "windows" {
		unreadableWant = []string{unreadable, "malformed JSON"}
	}
	// Windows says a loop "cannot be resolved" (Wine: "does not exist").
	loopWant := []string{loopA, "too many levels of symbolic links"}
	if runtime.GOOS == "windows" {
		loopWant = loopWant[:1]
	}

	// Private keys, wrong or broken, are made here rather than committed, so
	// the repository holds nothing that looks like a usable private key.
	const pemHead, pemTail = "-----BEGIN PRIVATE KEY-----\n", "-----END PRIVATE KEY-----\n"
	ecKey := saFile(t, dir, "sa-ec-key.json", pkcs8PEM(t, func() (any, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}), "")
	edKey := saFile(t, dir, "sa-ed25519-key.json", pkcs8PEM(t, func() (any, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}), "")
	badBase64 := saFile(t, dir, "sa-private-key-bad-base64.json", pemHead+"!!!not base64!!!\n"+pemTail, "")
	// A DER SEQUENCE header announcing 341 bytes, and nothing after it.
	badDER := saFile(t, dir, "sa-private-key-bad-der.json",
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x82, 0x01, 0x55, 0x02, 0x01, 0x00}})), "")
	truncatedPEM := saFile(t, dir, "sa-private-key-truncated-pem.json", pemHead+"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n", "")
	// The key is checked before token_uri: this one must be a real RSA key.
	rsaKey := pkcs8PEM(t, func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	badTokenURI := saFile(t, dir, "sa-token-uri-not-url.json", rsaKey, "not a url")
	fileTokenURI := saFile(t, dir, "sa-token-uri-file.json", rsaKey, "file:///etc/passwd")
	gopherTokenURI := saFile(t, dir, "sa-token-uri-gopher.json", rsaKey, "gopher://127.0.0.1:6379/_FLUSHALL")
	jsTokenURI := saFile(t, dir, "sa-token-uri-javascript.json", rsaKey, "javascript:alert(1)")
	dataTokenURI := saFile(t, dir, "sa-token-uri-data.json", rsaKey, "data:,x")
	crlfTokenURI := saFile(t, dir, "sa-token-uri-crlf.json", rsaKey, "https://oauth2.googleapis.com/token\r\nX: 1")

	tests := []badFileCase{
		{"EC key in a service-account file", ecKey, []string{ecKey, "private_key", "EC key", "RSA"}, 0, 0},
		{"private_key with bad base64", badBase64, []string{badBase64, "private_key", "not a PEM key"}, 0, 0},
		{"private_key with bad DER", badDER, []string{badDER, "private_key", "cannot parse"}, 0, 0},
		{"private_key cut short", truncatedPEM, []string{truncatedPEM, "private_key", "not a PEM key"}, 0, 0},
		{"token_uri not a URL", badTokenURI, []string{badTokenURI, "token_uri", "not an absolute"}, 0, 0},
		{"token_uri file:", fileTokenURI, []string{fileTokenURI, "token_uri", "file:", "not an absolute"}, 0, 0},
		{"token_uri gopher:", gopherTokenURI, []string{gopherTokenURI, "token_uri", "gopher:", "not an absolute"}, 0, 0},
		{"token_uri javascript:", jsTokenURI, []string{jsTokenURI, "token_uri", "javascript:", "not an absolute"}, 0, 0},
		{"token_uri data:", dataTokenURI, []string{dataTokenURI, "token_uri", "data:", "not an absolute"}, 0, 0},
		{"token_uri with CRLF", crlfTokenURI, []string{crlfTokenURI, "token_uri", "U+000D"}, 0, 0},
		{"Ed25519 key in a service-account file", edKey, []string{edKey, "private_key", "Ed25519", "RSA"}, 0, 0},
		{"over 1 MiB", huge, []string{huge, "larger than"}, 0, 0},
		{"2 GiB sparse file", sparse, []string{sparse, "2147483648 bytes, larger than"}, 0, 0},
		{"symlink loop", loopA, loopWant, 0, 0},
		{"dangling symlink", dangling, []string{dangling}, 0, 0},
		{"empty file", empty, []string{empty, "is empty"}, 0, 0},
		{"unreadable file", unreadable, unreadableWant, 0, 0},
	}
	tests = append(tests, specialFileCases(t, dir)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			if tt.deadline > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tt.deadline)
			}
			defer cancel()
			r := runApp(t, ctx, newEnv(t), &App{}, 30*time.Second, "print-access-token", "--no-cache", "--credentials", tt.path)
			wantCode(t, r, cmp.Or(tt.code, ExitCredentials))
			wantOneLineError(t, r, tt.want...)
			noControls(t, r)
			if r.duration > 10*time.Second {
				t.Errorf("took %v; a bad file must fail fast", r.duration)
			}
		})
	}
}

// badFileCase is a credentials file and what --credentials must make of it.
type badFileCase struct {
	name string
	path string
	want []string // fragments of the one-line error
	code int      // the exit code; default ExitCredentials
	// deadline, if set, is the command's: only it ends the read.
	deadline time.Duration
}

// specialFileCases are the files that are not files: FIFOs no one writes
// (ended by the command's deadline), an endless device, and a /proc file
// whose size says 0. Where the platform lacks them there are none.
func specialFileCases(t *testing.T, dir string) []badFileCase {
	type c = badFileCase
	var out []c
	if runtime.GOOS == "linux" {
		out = append(out,
			c{"/dev/zero", "/dev/zero", []string{"/dev/zero", "larger than 1048576 bytes"}, 0, 0},
			c{"/proc/self/environ", "/proc/self/environ", []string{"/proc/self/environ", "not UTF-8 text"}, 0, 0})
	}
	if runtime.GOOS == "windows" {
		return out
	}
	pipe := fifo(t)
	subject := fifo(t)
	ext, err := json.Marshal(map[string]any{
		"type": "external_account", "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
		"audience":          "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q",
		"token_url":         "https://sts.googleapis.com/v1/token",
		"credential_source": map[string]any{"file": subject},
	})
	if err != nil {
		t.Fatal(err)
	}
	extPath := filepath.Join(dir, "ext-fifo.json")
	if err := os.WriteFile(extPath, ext, 0o600); err != nil {
		t.Fatal(err)
	}
	return append(out,
		c{"FIFO with no writer", pipe, []string{pipe, "deadline exceeded"}, 0, time.Second},
		// The subject token is read by a refresh that the cache shares
		// among callers and so detaches from the caller's context: the
		// caller's deadline ends the wait (exit 4, as for a token endpoint
		// that does not answer); the attempt timeout ends the read.
		c{"FIFO as credential_source.file", extPath, []string{"deadline exceeded"}, ExitUnavailable, time.Second})
}

// pkcs8PEM returns a freshly generated key as a PKCS#8 PEM block.
func pkcs8PEM(t *testing.T, generate func() (any, error)) string {
	t.Helper()
	key, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// saFile writes a service-account file with privateKey and tokenURI
// (default Google's) into dir.
func saFile(t *testing.T, dir, name, privateKey, tokenURI string) string {
	t.Helper()
	if tokenURI == "" {
		tokenURI = "https://oauth2.googleapis.com/token"
	}
	data, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "fake-project",
		"private_key_id": "0123456789abcdef",
		"private_key":    privateKey,
		"client_email":   "fake-sa@fake-project.iam.gserviceaccount.com",
		"token_uri":      tokenURI,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokenCorpus says what info and verify make of each committed bad token:
// exit codes and fragments of the error (or of info's output).
var tokenCorpus = map[string]struct {
	infoCode   int
	info       []string
	verifyCode int
	verify     []string
}{
	"binary.txt":               {ExitUsage, []string{"not a token", "printable"}, ExitUsage, []string{"not a token"}},
	"jwt-alg-none.txt":         {ExitOK, []string{"alg:", "none", "not verified"}, ExitCredentials, []string{"rejected"}},
	"jwt-bad-base64.txt":       {ExitCredentials, []string{"not a valid JWT", "base64"}, ExitCredentials, []string{"rejected", "base64url"}},
	"jwt-empty-segments.txt":   {ExitCredentials, []string{"tokeninfo"}, ExitCredentials, []string{"rejected", "empty"}},
	"jwt-exp-string.txt":       {ExitOK, []string{"not verified"}, ExitCredentials, []string{"rejected"}},
	"jwt-forged-signature.txt": {ExitOK, []string{"not verified"}, ExitCredentials, []string{"rejected"}},
	"jwt-four-segments.txt":    {ExitCredentials, []string{"not a valid JWT", "4 segments"}, ExitCredentials, []string{"rejected", "4"}},
	"jwt-header-not-json.txt":  {ExitCredentials, []string{"tokeninfo"}, ExitCredentials, []string{"rejected", "header"}},
	"jwt-payload-array.txt":    {ExitCredentials, []string{"not a valid JWT", "claims"}, ExitCredentials, []string{"rejected"}},
	"jwt-two-segments.txt":     {ExitCredentials, []string{"not a valid JWT", "2 segments"}, ExitCredentials, []string{"rejected", "2"}},
}

// TestBadTokens runs every committed bad token through info (argument) and
// verify (standard input), plus input over the size limit.
func TestBadTokens(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	entries, err := os.ReadDir(filepath.Join(badInputDir, "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(tokenCorpus) {
		t.Errorf("testdata/badinput/tokens has %d files; tokenCorpus %d entries", len(entries), len(tokenCorpus))
	}
	for _, ent := range entries {
		want, ok := tokenCorpus[ent.Name()]
		if !ok {
			t.Errorf("testdata/badinput/tokens/%s has no expectation", ent.Name())
			continue
		}
		raw, err := os.ReadFile(filepath.Join(badInputDir, "tokens", ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		tok := strings.TrimSpace(string(raw))
		t.Run(ent.Name(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e[envTokenInfoURL] = f.URL + "/tokeninfo"
			r := run(t, e, "", "info", tok)
			wantCode(t, r, want.infoCode)
			if want.infoCode == ExitOK {
				for _, frag := range want.info {
					if !strings.Contains(r.stdout, frag) {
						t.Errorf("info output does not mention %q:\n%s", frag, r.stdout)
					}
				}
			} else {
				wantOneLineError(t, r, want.info...)
			}
			r = run(t, e, string(raw), "verify", "--audience", "https://svc.example", "--certs-url", f.URL+"/oauth2/v3/certs")
			wantCode(t, r, want.verifyCode)
			wantOneLineError(t, r, want.verify...)
		})
	}

	t.Run("standard input over the limit", func(t *testing.T) {
		t.Parallel()
		r := run(t, newEnv(t), strings.Repeat("a", 2<<20), "info")
		wantCode(t, r, ExitUsage)
		wantOneLineError(t, r, "standard input", "larger than")
	})
}

// TestExpiredTokenVerify: a token that expired is rejected by verify and
// flagged by info.
func TestExpiredTokenVerify(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	key := saKeyFile(t, f)
	e := newEnv(t)
	r := run(t, e, "", "print-identity-token", "--no-cache", "--credentials", key, "--audience", "https://svc.example")
	wantCode(t, r, ExitOK)
	tok := strings.TrimSpace(r.stdout)
	// Two hours later, by the CLI's clock.
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	var out, errb bytes.Buffer
	app := &App{Out: &out, Err: &errb, Getenv: func(k string) string { return e[k] }, Now: later}
	code := Run(t.Context(), app, []string{"verify", tok, "--audience", "https://svc.example", "--certs-url", f.URL + "/oauth2/v3/certs"})
	wantCode(t, result{code: code, stdout: out.String(), stderr: errb.String()}, ExitCredentials)
	wantOneLineError(t, result{stderr: errb.String()}, "expired")
	out.Reset()
	errb.Reset()
	app = &App{Out: &out, Err: &errb, Getenv: func(k string) string { return e[k] }, Now: later}
	code = Run(t.Context(), app, []string{"info", tok})
	if code != ExitOK || !strings.Contains(strings.ToLower(out.String()), "expired") {
		t.Errorf("info on an expired token: exit %d, output %q; want 0 and a note that it expired", code, out.String())
	}
}

// TestEmulatorFaultFlag checks that --fault reaches the fake: with an
// injected invalid_grant, a token request fails as a refused credential.
func TestEmulatorFaultFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, stop := startEmulatorWith(t, dir, "--fault", "/token:status=400,code=invalid_grant")
	defer stop()
	r := run(t, newEnv(t), "", "print-access-token", "--no-cache", "--credentials", filepath.Join(dir, "service-account.json"))
	wantCode(t, r, ExitCredentials)
	wantOneLineError(t, r, "invalid_grant", "injected fault")
}

func TestNoCredentialsAnywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e["GCE_METADATA_HOST"] = strings.TrimPrefix(closedPort(t), "http://")
	r := run(t, e, "", "print-access-token")
	// The metadata server named by GCE_METADATA_HOST is used without a
	// probe, as Google's libraries do; it is down, so: unavailable.
	wantCode(t, r, ExitUnavailable)
	wantOneLineError(t, r, "computeMetadata", "connection refused")
}
