package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// closedPort returns a loopback URL on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
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
	unknownType := file("unknown.json", `{"type": "alien_account"}`)
	noType := file("notype.json", `{"client_email": "a@b.c"}`)
	missingKey := file("nokey.json", `{"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"}`)
	wrongFieldType := file("wrongtype.json", `{"type": "service_account", "client_email": 5, "private_key": "x"}`)
	badPEM := file("badpem.json", `{"type": "service_account", "client_email": "a@b.c", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`)
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
		{"bad format", nil, []string{"print-access-token", "--credentials", key, "--format", "yaml"}, ExitUsage, []string{"--format", "yaml"}},
		{"missing audience", nil, []string{"print-identity-token", "--credentials", key}, ExitUsage, []string{"--audience"}},
		{"extra argument", nil, []string{"print-access-token", "extra"}, ExitUsage, []string{"print-access-token"}},
		{"curl without URL", nil, []string{"curl"}, ExitUsage, []string{"curl"}},
		{"curl relative URL", nil, []string{"curl", "--credentials", key, "/x"}, ExitUsage, []string{"/x"}},
		{"curl bad header", nil, []string{"curl", "--credentials", key, "-H", "nocolon", f.URL}, ExitUsage, []string{"nocolon"}},
		{"curl missing data file", nil, []string{"curl", "--credentials", key, "-d", "@" + missing, f.URL}, ExitUsage, []string{missing}},
		{"missing credentials file", nil, []string{"print-access-token", "--credentials", missing}, ExitCredentials, []string{missing}},
		{"credentials is a directory", nil, []string{"print-access-token", "--credentials", dir}, ExitCredentials, []string{dir}},
		{"malformed JSON", nil, []string{"print-access-token", "--credentials", malformed}, ExitCredentials, []string{malformed}},
		{"unknown type", nil, []string{"print-access-token", "--credentials", unknownType}, ExitCredentials, []string{unknownType, "alien_account"}},
		{"no type", nil, []string{"print-access-token", "--credentials", noType}, ExitCredentials, []string{noType, "type"}},
		{"missing private key", nil, []string{"print-access-token", "--credentials", missingKey}, ExitCredentials, []string{missingKey, "private_key"}},
		{"wrong field type", nil, []string{"print-access-token", "--credentials", wrongFieldType}, ExitCredentials, []string{wrongFieldType, "client_email"}},
		{"bad PEM", nil, []string{"print-access-token", "--credentials", badPEM}, ExitCredentials, []string{badPEM, "private_key"}},
		{"GOOGLE_APPLICATION_CREDENTIALS missing file", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": missing}, []string{"print-access-token"}, ExitCredentials, []string{"GOOGLE_APPLICATION_CREDENTIALS", missing}},
		{"revoked refresh token", nil, []string{"print-access-token", "--credentials", revokedUser, "--no-cache"}, ExitCredentials, []string{"invalid_grant", "expired or revoked"}},
		{"unreachable token endpoint", nil, []string{"print-access-token", "--credentials", key, "--no-cache", "--token-url", down + "/token"}, ExitUnavailable, []string{down}},
		{"bad token URL flag", nil, []string{"print-access-token", "--credentials", key, "--token-url", "not a url"}, ExitUsage, []string{"token-url"}},
		{"empty scopes fall back to cloud-platform", nil, []string{"print-access-token", "--credentials", key, "--no-cache", "--scopes", ""}, ExitOK, nil},
		{"info garbage JWT", nil, []string{"info", "eyJhbGciOi.bbb.ccc"}, ExitCredentials, []string{"JWT"}},
		{"info empty", nil, []string{"info"}, ExitUsage, []string{"no token"}},
		{"info tokeninfo unreachable", map[string]string{"GCPTOKEN_TOKENINFO_URL": down + "/tokeninfo"}, []string{"info", "ya29.x"}, ExitUnavailable, []string{down}},
		{"emulator bad listen", nil, []string{"emulator", "--listen", "nonsense"}, ExitUsage, []string{"--listen"}},
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
			if strings.Contains(r.stderr, "-----BEGIN") || strings.Contains(r.stderr, rt) {
				t.Errorf("error leaks a secret: %s", r.stderr)
			}
		})
	}
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
