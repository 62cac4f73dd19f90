package credentials

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// federatedSource is one kind of credential_source under test: set changes
// the subject token it yields ("" makes it fail).
type federatedSource struct {
	name   string
	config func(t *testing.T, f *fakegoogle.Running) (file []byte, env map[string]string, set func(tok string))
}

var federatedSources = []federatedSource{
	{name: "file", config: func(t *testing.T, f *fakegoogle.Running) ([]byte, map[string]string, func(string)) {
		path := filepath.Join(t.TempDir(), "subject.jwt")
		data, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: path})
		if err != nil {
			t.Fatal(err)
		}
		return data, nil, func(tok string) {
			if tok == "" {
				os.Remove(path)
				return
			}
			if err := os.WriteFile(path, []byte(tok), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{name: "url", config: func(t *testing.T, f *fakegoogle.Running) ([]byte, map[string]string, func(string)) {
		var current atomic.Value
		current.Store("")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := current.Load().(string)
			if tok == "" {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte(tok))
		}))
		t.Cleanup(srv.Close)
		data, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		return data, nil, func(tok string) { current.Store(tok) }
	}},
	{name: "executable", config: func(t *testing.T, f *fakegoogle.Running) ([]byte, map[string]string, func(string)) {
		if runtime.GOOS == "windows" {
			t.Skip("the test executable is a shell script")
		}
		dir := t.TempDir()
		tokFile := filepath.Join(dir, "subject.jwt")
		script := filepath.Join(dir, "subject.sh")
		body := fmt.Sprintf("#!/bin/sh\ntok=$(cat %q) || exit 1\n"+
			`printf '{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"%%s"}' "$tok"`+"\n", tokFile)
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		data := fileWithBytes(t, f, func(m map[string]any) {
			m["credential_source"] = map[string]any{"executable": map[string]any{"command": script}}
		})
		return data, map[string]string{envAllowExecutables: "1"}, func(tok string) {
			if tok == "" {
				os.Remove(tokFile)
				return
			}
			if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}},
}

// fileWithBytes is the fake's OIDC file configuration with edit applied.
func fileWithBytes(t *testing.T, f *fakegoogle.Running, edit func(m map[string]any)) []byte {
	t.Helper()
	data, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	return mustJSON(t, m)
}

// TestSecuritySnapshotFollowsSubjectToken: the principal of federated
// credentials is the subject token each exchange reads, so a cache keyed by
// the configuration alone served one workload's Google token to another
// sharing the file (or to whoever's token replaced it at the same path).
// A Snapshot's Identity names the subject token read (a fingerprint, never
// the token), and its providers exchange exactly that token.
func TestSecuritySnapshotFollowsSubjectToken(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	mint := func(subject string) string {
		tok, err := f.MintOIDCSubjectToken(subject, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tokA, tokB := mint("workload-a"), mint("workload-b")
	for _, src := range federatedSources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			data, vars, set := src.config(t, f)
			c, err := FromJSON(data, isolated(t, vars))
			if err != nil {
				t.Fatal(err)
			}
			snapshot := func(tok string) *Credentials {
				t.Helper()
				set(tok)
				s, err := c.Snapshot(t.Context())
				if err != nil {
					t.Fatalf("Snapshot: %v", err)
				}
				for _, secret := range []string{tokA, tokB, strings.Split(tokA, ".")[2]} {
					if strings.Contains(s.Identity(), secret) {
						t.Errorf("Identity() %q holds the subject token", s.Identity())
					}
				}
				return s
			}
			a, b := snapshot(tokA), snapshot(tokB)
			if a.Identity() == b.Identity() || a.Identity() == c.Identity() {
				t.Errorf("Identity() does not follow the subject token: %q, %q, unpinned %q", a.Identity(), b.Identity(), c.Identity())
			}
			if again := snapshot(tokA); again.Identity() != a.Identity() {
				t.Errorf("Identity() changed for the same subject token: %q, then %q", a.Identity(), again.Identity())
			}
			// The source now yields B; A's snapshot still exchanges A.
			set(tokB)
			for s, want := range map[*Credentials]string{a: "workload-a", b: "workload-b"} {
				tp, err := s.AccessTokenSource(nil)
				if err != nil {
					t.Fatal(err)
				}
				tok, err := tp.Token(t.Context())
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if sub := tokenInfo(t, f, tok.Value)["sub"]; sub != poolPrincipal+want {
					t.Errorf("the snapshot of %s's subject token got a token for %v", want, sub)
				}
			}
			set("")
			if _, err := c.Snapshot(t.Context()); err == nil || !strings.Contains(err.Error(), "get the subject token") {
				t.Errorf("Snapshot with no subject token = %v; want an error", err)
			}
		})
	}
}

// TestSecuritySnapshotThroughImpersonation: impersonating (or downscoping)
// federated credentials keys their tokens by the federated principal too.
func TestSecuritySnapshotThroughImpersonation(t *testing.T) {
	t.Parallel()
	f := startFederationFake(t)
	path := filepath.Join(t.TempDir(), "subject.jwt")
	data, err := f.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: path, ServiceAccount: fakegoogle.DefaultTargetServiceAccount})
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromJSON(data, isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	down, err := Downscope(c, &DownscopeOptions{Boundary: []byte(`{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b","availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, creds := range []*Credentials{c, down} {
		var ids, roots []string
		for _, subject := range []string{"workload-a", "workload-b"} {
			tok, err := f.MintOIDCSubjectToken(subject, "", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tok), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := creds.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ids, roots = append(ids, s.Identity()), append(roots, s.RootIdentity())
		}
		if ids[0] == ids[1] || roots[0] == roots[1] || !strings.Contains(roots[0], "#subject:") {
			t.Errorf("%s: Identity %q / %q, RootIdentity %q / %q; want them to follow the subject token", creds.Type, ids[0], ids[1], roots[0], roots[1])
		}
	}
	// The impersonated snapshot still works, with its own pinned source.
	s, err := c.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := s.AccessTokenSource([]string{"https://www.googleapis.com/auth/userinfo.email"})
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if email := tokenInfo(t, f, tok.Value)["email"]; email != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("impersonated token is for %v", email)
	}
}

// TestSecuritySnapshotAWSCredentials: an AWS workload's principal is the
// role whose credentials sign the request; they rotate, and a different
// role can be attached to the instance. The snapshot is keyed by the key id
// and session token it read, and signs with exactly those.
func TestSecuritySnapshotAWSCredentials(t *testing.T) {
	t.Parallel()
	var session atomic.Value
	session.Store("session-1")
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/zone":
			w.Write([]byte("us-east-2b"))
		case "/role":
			w.Write([]byte("the-role"))
		case "/role/the-role":
			json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "Token": session.Load().(string)})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(imds.Close)
	c, err := FromJSON(mustJSON(t, map[string]any{
		"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/aws",
		"subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
		"credential_source":  map[string]any{"environment_id": "aws1", "region_url": imds.URL + "/zone", "url": imds.URL + "/role"},
	}), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func(s string) *Credentials {
		t.Helper()
		session.Store(s)
		snap, err := c.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(snap.Identity(), s) || strings.Contains(snap.Identity(), "secret") {
			t.Errorf("Identity() %q holds AWS credentials", snap.Identity())
		}
		return snap
	}
	one, two := snapshot("session-1"), snapshot("session-2")
	if one.Identity() == two.Identity() {
		t.Errorf("Identity() is the same for two sessions: %q", one.Identity())
	}
	if again := snapshot("session-1"); again.Identity() != one.Identity() {
		t.Errorf("Identity() changed for the same credentials")
	}
	// IMDS now has session-2; the first snapshot still signs with session-1.
	subject, err := one.impl.(*externalAccount).src.subjectToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	decoded, _ := url.QueryUnescape(subject)
	if !strings.Contains(decoded, `"value":"session-1"`) {
		t.Errorf("the snapshot signed with other credentials: %s", decoded)
	}
}

// TestSecurityFingerprintIsNotPlainHash: the fingerprints in identities are
// no plain SHA-256 of the secret, which other systems compute too and could
// be matched against.
func TestSecurityFingerprintIsNotPlainHash(t *testing.T) {
	t.Parallel()
	c, err := FromJSON(mustJSON(t, auFile("")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(testRefreshToken))
	if plain := hex.EncodeToString(sum[:]); strings.Contains(c.Identity(), plain) {
		t.Errorf("Identity() %q holds the plain SHA-256 of the refresh token", c.Identity())
	}
	if _, err := (&Credentials{}).Snapshot(context.Background()); !errors.Is(err, errNotLoaded) {
		t.Errorf("Snapshot of an unloaded Credentials = %v; want %v", err, errNotLoaded)
	}
}
