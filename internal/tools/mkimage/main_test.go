package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// staticBinary builds a small Go program as a static linux binary once per
// test run. (Not gcptoken itself: `make image` packs that; this test checks
// the packing and must not depend on the rest of the tree compiling.)
var staticBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mkimage-test-")
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "hello.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o600); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hello")
	// Small (no fmt, no symbols): the race detector makes gzip slow.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GO111MODULE=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{string(b), err}
	}
	return out, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := staticBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func mustBinary(t *testing.T) string {
	t.Helper()
	bin, err := staticBinary()
	if err != nil {
		t.Fatalf("build a static test binary: %v", err)
	}
	return bin
}

// layerEntry is one file of the image's filesystem.
type layerEntry struct {
	mode int64
	uid  int
	data []byte
	typ  byte
}

func TestImage(t *testing.T) {
	t.Parallel()
	bin := mustBinary(t)
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		args      []string
		wantFiles map[string]layerEntry
	}{
		{"binary only", nil, map[string]layerEntry{
			"gcptoken": {mode: 0o755, data: want, typ: tar.TypeReg},
		}},
		{"with CA certificates", []string{"-ca-certs", caFile}, map[string]layerEntry{
			"gcptoken":                          {mode: 0o755, data: want, typ: tar.TypeReg},
			"etc/":                              {mode: 0o755, typ: tar.TypeDir},
			"etc/ssl/":                          {mode: 0o755, typ: tar.TypeDir},
			"etc/ssl/certs/":                    {mode: 0o755, typ: tar.TypeDir},
			"etc/ssl/certs/ca-certificates.crt": {mode: 0o644, data: pem, typ: tar.TypeReg},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "image.tar")
			var stdout, stderr bytes.Buffer
			args := append([]string{"-binary", bin, "-out", out, "-tag", "gcptoken:test", "-version", "v9.9.9"}, tc.args...)
			if code := run(args, &stdout, &stderr, func(string) string { return "" }); code != 0 {
				t.Fatalf("got exit code %d (%s); want 0", code, stderr.String())
			}
			img, err := tarball.ImageFromPath(out, nil)
			if err != nil {
				t.Fatalf("read back %s: %v", out, err)
			}
			if err := validate.Image(img); err != nil {
				t.Errorf("the image breaks an invariant of the format (digests, diff ids, sizes): %v", err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if c.User != "65532:65532" {
				t.Errorf("got User = %q; want the non-root 65532:65532", c.User)
			}
			if !slices.Equal(c.Entrypoint, []string{"/gcptoken"}) {
				t.Errorf("got Entrypoint = %q; want [/gcptoken]", c.Entrypoint)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("got platform %s/%s; want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
			}
			if got := c.Labels["org.opencontainers.image.version"]; got != "v9.9.9" {
				t.Errorf("got version label %q; want v9.9.9", got)
			}
			if got := c.Labels["org.opencontainers.image.created"]; got != "1970-01-01T00:00:00Z" {
				t.Errorf("got created label %q; want the epoch (SOURCE_DATE_EPOCH unset)", got)
			}
			if !cf.Created.Time.Equal(cf.Created.Time.UTC()) || cf.Created.Unix() != 0 {
				t.Errorf("got Created = %s; want the epoch", cf.Created)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("got %d layers (%v); want 1", len(layers), err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got := map[string]layerEntry{}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(tr)
				if h.ModTime.Unix() != 0 {
					t.Errorf("got mtime %s for %s; want the epoch", h.ModTime, h.Name)
				}
				got[h.Name] = layerEntry{mode: h.Mode, uid: h.Uid, data: data, typ: h.Typeflag}
			}
			if len(got) != len(tc.wantFiles) {
				t.Errorf("got layer files %q; want exactly %d", keys(got), len(tc.wantFiles))
			}
			for name, w := range tc.wantFiles {
				g, ok := got[name]
				switch {
				case !ok:
					t.Errorf("layer has no %s", name)
				case g.typ != w.typ || g.mode != w.mode || g.uid != 0:
					t.Errorf("got %s type %c mode %o uid %d; want type %c mode %o uid 0", name, g.typ, g.mode, g.uid, w.typ, w.mode)
				case !bytes.Equal(g.data, w.data):
					t.Errorf("got %d bytes in %s; want the %d input bytes", len(g.data), name, len(w.data))
				}
			}
		})
	}
}

// TestReproducible: the same inputs give the same digest, and
// SOURCE_DATE_EPOCH moves every timestamp.
func TestReproducible(t *testing.T) {
	t.Parallel()
	bin := mustBinary(t)
	digest := func(epoch string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "image.tar")
		var stdout, stderr bytes.Buffer
		env := func(k string) string {
			if k == "SOURCE_DATE_EPOCH" {
				return epoch
			}
			return ""
		}
		if code := run([]string{"-binary", bin, "-out", out}, &stdout, &stderr, env); code != 0 {
			t.Fatalf("got exit code %d (%s); want 0", code, stderr.String())
		}
		img, err := tarball.ImageFromPath(out, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout.String(), d.String()) {
			t.Errorf("got output %q; want it to name the digest %s", stdout.String(), d)
		}
		return d.String()
	}
	a, b, c := digest("1700000000"), digest("1700000000"), digest("1700000001")
	if a != b {
		t.Errorf("got digests %s and %s for the same inputs; want equal", a, b)
	}
	if a == c {
		t.Errorf("got digest %s for two SOURCE_DATE_EPOCHs; want them to differ", a)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	bin := mustBinary(t)
	dir := t.TempDir()
	notELF := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	noPEM := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(noPEM, []byte("nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	for _, tc := range []struct {
		name     string
		args     []string
		epoch    string
		wantCode int
		wantErr  string
	}{
		{"no flags", nil, "", 2, "-binary and -out are required"},
		{"stray argument", []string{"-binary", bin, "-out", out, "extra"}, "", 2, `unexpected argument "extra"`},
		{"missing binary", []string{"-binary", filepath.Join(dir, "nope"), "-out", out}, "", 1, "-binary: open"},
		{"not an executable", []string{"-binary", notELF, "-out", out}, "", 1, "not an ELF executable"},
		{"bad epoch", []string{"-binary", bin, "-out", out}, "yesterday", 2, `SOURCE_DATE_EPOCH "yesterday"`},
		{"bad tag", []string{"-binary", bin, "-out", out, "-tag", "UPPER:case:x"}, "", 2, `-tag "UPPER:case:x"`},
		{"CA file without certificates", []string{"-binary", bin, "-out", out, "-ca-certs", noPEM}, "", 1, "no PEM certificate"},
		{"unwritable output", []string{"-binary", bin, "-out", filepath.Join(dir, "no", "such", "dir", "x.tar")}, "", 1, "write "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr, func(string) string { return tc.epoch })
			msg := stderr.String()
			if code != tc.wantCode {
				t.Errorf("got exit code %d; want %d", code, tc.wantCode)
			}
			if !strings.Contains(msg, tc.wantErr) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("got stderr %q; want one line containing %q", msg, tc.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("got stdout %q on failure; want nothing", stdout.String())
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind (%v)", out, err)
	}
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}
