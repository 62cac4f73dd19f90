// Package gcloudtest makes gcloud configuration directories for tests by
// running the installed Google Cloud CLI against a fake Google
// (fakegoogle): `gcloud auth activate-service-account` and `gcloud auth
// login`, the latter through its browser sign-in, with the test as the
// browser. What tests then read is gcloud's own store, in gcloud's own
// format, not a copy made by hand.
//
// gcloud reaches the fake under Google's real host names through
// fakegoogle/googlehosts' HTTPS proxy (gcloud's proxy properties and
// custom CA), with no endpoint of gcloud's redirected: the stored
// credentials name https://oauth2.googleapis.com/token as a real gcloud's
// do. Readers of the store reach the fake with GCPTOKEN_EMULATOR_HOST (see
// Gcloud.EmulatorHost) or the same proxy.
//
// gcloud runs with an environment of its own: PATH, a temporary HOME and
// the variables set here, so no configuration or credential of the
// developer is read or changed.
package gcloudtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
)

// ClientID is gcloud's own OAuth client, the one `gcloud auth login`
// signs users in with (googlecloudsdk/core/config.py CLOUDSDK_CLIENT_ID).
// New registers it with the fake under a secret of its own, which gcloud
// is given through CLOUDSDK_AUTH_CLIENT_SECRET: gcloud's published secret
// is never needed.
const ClientID = "32555940559.apps.googleusercontent.com"

// runTimeout bounds each gcloud command (its start-up alone takes about a
// second on a loaded machine).
const runTimeout = 90 * time.Second

// Gcloud runs the installed gcloud with a private configuration directory
// against a fake Google.
type Gcloud struct {
	// Dir is gcloud's configuration directory (CLOUDSDK_CONFIG).
	Dir string
	// Fake is the fake Google gcloud talks to.
	Fake *fakegoogle.Running

	path    string
	env     []string
	scratch string
}

// New finds gcloud, starts an HTTPS proxy serving fake under Google's host
// names and returns a Gcloud with an empty configuration directory. When
// gcloud is not installed the test is skipped, or fails under CI=true; on
// Windows it is skipped.
func New(t testing.TB, fake *fakegoogle.Running) *Gcloud {
	t.Helper()
	if runtime.GOOS == "windows" {
		// Under Wine only Linux's gcloud exists, which a Windows program
		// cannot start; the browser is a sh script.
		t.Skip("not on Windows: runs gcloud and a sh script as its browser")
	}
	path, err := exec.LookPath("gcloud")
	if err != nil {
		msg := "gcloud is not on PATH: install the Google Cloud CLI (Debian: google-cloud-cli)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s (CI=true: a missing peer is a failure)", msg)
		}
		t.Skip(msg)
	}
	scratch := t.TempDir()
	proxy, caFile := startProxy(t, fake, scratch)
	secret := randomHex(t)
	fake.AddOAuthClient(ClientID, secret)
	host, port, _ := net.SplitHostPort(proxy)
	g := &Gcloud{Dir: filepath.Join(scratch, "gcloud"), Fake: fake, path: path, scratch: scratch}
	g.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(scratch, "home"),
		"CLOUDSDK_CONFIG=" + g.Dir,
		"CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1",
		"CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
		"CLOUDSDK_AUTH_CLIENT_SECRET=" + secret,
		"CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE=" + caFile,
		"CLOUDSDK_PROXY_TYPE=http", "CLOUDSDK_PROXY_ADDRESS=" + host, "CLOUDSDK_PROXY_PORT=" + port,
		// Nothing may reach a real metadata server.
		"GCE_METADATA_ROOT=127.0.0.1:1", "GCE_METADATA_IP=127.0.0.1:1", "NO_GCE_CHECK=True",
	}
	return g
}

// startProxy serves fake under Google's host names on a loopback port and
// writes the proxy's CA certificate into dir.
func startProxy(t testing.TB, fake *fakegoogle.Running, dir string) (addr, caFile string) {
	t.Helper()
	ca, err := googlehosts.NewCA(nil)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := googlehosts.New(&googlehosts.Options{Fake: fake.Server, CA: ca, FakeAliases: []string{strings.TrimPrefix(fake.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String(), caFile
}

// Snapshot lists every file of gcloud's configuration directory with its
// size, modification time and digest, so that a test can check that
// gcptoken, which only reads it, left it exactly as gcloud wrote it.
func (g *Gcloud) Snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(g.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %d %x\n", p, fi.Size(), fi.ModTime().UnixNano(), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// EmulatorHost is the value of GCPTOKEN_EMULATOR_HOST that sends gcptoken's
// requests for the stored credentials' Google URLs to the fake.
func (g *Gcloud) EmulatorHost() string { return strings.TrimPrefix(g.Fake.URL, "http://") }

// Env returns the environment gcloud runs with, plus extra.
func (g *Gcloud) Env(extra ...string) []string {
	return append(append([]string(nil), g.env...), extra...)
}

// Run runs gcloud with args and returns its standard output, trimmed. A
// failure fails the test with gcloud's standard error.
func (g *Gcloud) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := g.run(t, nil, args...)
	if err != nil {
		t.Fatalf("gcloud %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (g *Gcloud) run(t testing.TB, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.path, append(args, "--verbosity=error")...)
	cmd.Env = g.Env(extraEnv...)
	cmd.Dir = g.scratch
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", &runError{err: err, stderr: strings.TrimSpace(stderr.String())}
	}
	return strings.TrimSpace(stdout.String()), nil
}

type runError struct {
	err    error
	stderr string
}

func (e *runError) Error() string { return e.err.Error() + ": " + e.stderr }

// ActivateServiceAccount signs in the fake's service account email with
// `gcloud auth activate-service-account --key-file`, with a key naming
// Google's token endpoint, as keys from Google do.
func (g *Gcloud) ActivateServiceAccount(t testing.TB, email string) {
	t.Helper()
	key, err := g.Fake.ServiceAccountKeyJSON(email)
	if err != nil {
		t.Fatal(err)
	}
	if key, err = googlehosts.GoogleURLs(key, g.Fake.URL); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(g.scratch, "key-"+randomHex(t)+".json")
	if err := os.WriteFile(file, key, 0o600); err != nil {
		t.Fatal(err)
	}
	g.Run(t, "auth", "activate-service-account", "--key-file="+file)
}

func randomHex(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
