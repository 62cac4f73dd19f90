package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

const boundaryJSON = `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b1","availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`

func TestAccessBoundary(t *testing.T) {
	t.Parallel()
	f := ownFake(t)
	e := newEnv(t)
	e["GCPTOKEN_TOKENINFO_URL"] = f.URL + "/tokeninfo"
	e["GCPTOKEN_STS_ENDPOINT"] = f.STSURL()
	key := saKeyFile(t, f)
	boundary := writeFile(t, "boundary.json", []byte(boundaryJSON))

	r := run(t, e, "", "print-access-token", "--credentials", key, "--access-boundary", boundary)
	wantCode(t, r, 0)
	tok := strings.TrimSpace(r.stdout)
	if tok == "" || f.RequestCount("/v1/token") != 1 {
		t.Fatalf("token %q after %d STS requests; want a token from one", tok, f.RequestCount("/v1/token"))
	}
	info := run(t, e, "", "info", tok)
	wantCode(t, info, 0)
	if !strings.Contains(info.stdout, "access_boundary") || !strings.Contains(info.stdout, "buckets/b1") {
		t.Errorf("info on the downscoped token does not show the boundary:\n%s", info.stdout)
	}

	// The second run is served from the disk cache.
	r2 := run(t, e, "", "print-access-token", "--credentials", key, "--access-boundary", boundary)
	wantCode(t, r2, 0)
	if got := strings.TrimSpace(r2.stdout); got != tok {
		t.Errorf("second run printed %q; want the cached %q", got, tok)
	}
	if n := f.RequestCount("/v1/token"); n != 1 {
		t.Errorf("got %d STS requests after two runs; want 1 (cache hit)", n)
	}

	// Another boundary is another cache entry, and the plain token is not
	// the downscoped one.
	other := writeFile(t, "other.json", []byte(strings.Replace(boundaryJSON, "b1", "b2", 1)))
	r3 := run(t, e, "", "print-access-token", "--credentials", key, "--access-boundary", other)
	wantCode(t, r3, 0)
	if strings.TrimSpace(r3.stdout) == tok || f.RequestCount("/v1/token") != 2 {
		t.Errorf("a different boundary reused the cached token (STS requests %d)", f.RequestCount("/v1/token"))
	}
	plain := run(t, e, "", "print-access-token", "--credentials", key)
	wantCode(t, plain, 0)
	if strings.TrimSpace(plain.stdout) == tok {
		t.Error("the token without --access-boundary is the downscoped one")
	}

	// The flag wins over the variable, and the JSON output names the type.
	e2 := newEnv(t)
	r4 := run(t, e2, "", "print-access-token", "--credentials", key, "--access-boundary", boundary, "--sts-endpoint", f.STSURL(), "--format", "json")
	wantCode(t, r4, 0)
	if !strings.Contains(r4.stdout, `"credential_type": "downscoped"`) {
		t.Errorf("json output: %s", r4.stdout)
	}
}

func TestAccessBoundaryImpersonated(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	e := newEnv(t)
	e["GCPTOKEN_TOKENINFO_URL"] = f.URL + "/tokeninfo"
	e["GCPTOKEN_STS_ENDPOINT"] = f.STSURL()
	e["GCPTOKEN_IAM_ENDPOINT"] = f.IAMCredentialsURL()
	boundary := writeFile(t, "boundary.json", []byte(boundaryJSON))
	r := run(t, e, "", "print-access-token", "--credentials", saKeyFile(t, f),
		"--impersonate-service-account", fakegoogle.DefaultTargetServiceAccount, "--access-boundary", boundary)
	wantCode(t, r, 0)
	info := run(t, e, "", "info", "--format", "json", strings.TrimSpace(r.stdout))
	wantCode(t, info, 0)
	if !strings.Contains(info.stdout, "access_boundary") {
		t.Errorf("info does not show the boundary:\n%s", info.stdout)
	}
}

func TestAccessBoundaryErrors(t *testing.T) {
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
	missing := filepath.Join(dir, "missing.json")
	malformed := file("malformed.json", `{"accessBoundary":`)
	empty := file("empty-rules.json", `{"accessBoundary":{"accessBoundaryRules":[]}}`)
	badPrefix := file("bad-prefix.json", strings.Replace(boundaryJSON, "inRole:roles/", "roles/", 1))
	good := file("good.json", boundaryJSON)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant","error_description":"The subject_token is invalid."}`))
	}))
	t.Cleanup(refusing.Close)
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantCode  int
		fragments []string
	}{
		{"missing file", []string{"--access-boundary", missing}, nil, ExitUsage, []string{"--access-boundary", missing, "does not exist"}},
		{"directory", []string{"--access-boundary", dir}, nil, ExitUsage, []string{"--access-boundary", "directory"}},
		{"malformed JSON", []string{"--access-boundary", malformed}, nil, ExitUsage, []string{malformed, "malformed JSON"}},
		{"empty rules", []string{"--access-boundary", empty}, nil, ExitUsage, []string{empty, "accessBoundary.accessBoundaryRules", "at least one rule"}},
		{"bad permission prefix", []string{"--access-boundary", badPrefix}, nil, ExitUsage,
			[]string{badPrefix, "accessBoundary.accessBoundaryRules[0].availablePermissions[0]", "inRole:"}},
		{"bad STS URL", []string{"--access-boundary", good, "--sts-endpoint", "not-a-url"}, nil, ExitUsage, []string{"STSEndpoint"}},
		{"sts-endpoint alone", []string{"--sts-endpoint", f.STSURL()}, nil, ExitUsage, []string{"--sts-endpoint needs --access-boundary"}},
		{"ID token", nil, nil, ExitUsage, []string{"access tokens only"}},
		{"STS refuses", []string{"--access-boundary", good, "--no-cache"},
			map[string]string{"GCPTOKEN_STS_ENDPOINT": refusing.URL + "/v1/token"}, ExitCredentials, []string{"invalid_grant", "downscoped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e["GCPTOKEN_STS_ENDPOINT"] = f.STSURL()
			for k, v := range tt.env {
				e[k] = v
			}
			args := append([]string{"print-access-token", "--credentials", key}, tt.args...)
			if tt.name == "ID token" {
				args = []string{"print-identity-token", "--credentials", key, "--audience", "https://x", "--access-boundary", good}
			}
			r := run(t, e, "", args...)
			wantCode(t, r, tt.wantCode)
			wantOneLineError(t, r, tt.fragments...)
		})
	}
}
