//go:build unix

package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The pinned releases. KubernetesVersion matches the k8s.io/client-go
// (v0.37.x) that gcptoken uses; EtcdVersion is the newest patch of the etcd
// minor release (3.7) that this Kubernetes release is built and tested
// against (build/dependencies.yaml in k8s.io/kubernetes).
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.4"
)

// Binaries are the paths of the two server binaries.
type Binaries struct {
	APIServer string
	Etcd      string
}

// BuildOptions control where binaries are cached and how they are built.
type BuildOptions struct {
	// CacheDir is Optional: the directory holding one sub-directory per
	// component and version. Default: $KUBETEST_CACHE_DIR, else
	// os.UserCacheDir()/gcptoken/kubetest.
	CacheDir string
	// Logf is Optional: progress messages (a build takes minutes).
	Logf func(format string, args ...any)
}

// recipe says how to build one binary from the Go module proxy.
type recipe struct {
	name    string // binary name and cache sub-directory prefix
	version string
	module  string // module required by the throw-away build module
	pkg     string // main package inside module
	ldflags []string
	// replaces lists extra `replace` lines for the build module, given a
	// directory where go commands can run.
	replaces func(ctx context.Context, env []string, dir string) ([]string, error)
}

func etcdRecipe() recipe {
	return recipe{
		name:    "etcd",
		version: EtcdVersion,
		module:  "go.etcd.io/etcd/server/v3",
		pkg:     "go.etcd.io/etcd/server/v3",
	}
}

func apiServerRecipe() recipe {
	minorPatch := strings.TrimPrefix(KubernetesVersion, "v1.") // "37.2"
	minor, _, _ := strings.Cut(minorPatch, ".")
	return recipe{
		name:    "kube-apiserver",
		version: KubernetesVersion,
		module:  "k8s.io/kubernetes",
		pkg:     "k8s.io/kubernetes/cmd/kube-apiserver",
		// What hack/lib/version.sh stamps into a release build; without it
		// /version reports v0.0.0-master.
		ldflags: []string{
			"-X k8s.io/component-base/version.gitVersion=" + KubernetesVersion,
			"-X k8s.io/component-base/version.gitMajor=1",
			"-X k8s.io/component-base/version.gitMinor=" + minor,
			"-X k8s.io/component-base/version.gitTreeState=clean",
		},
		replaces: func(ctx context.Context, env []string, dir string) ([]string, error) {
			return stagingReplaces(ctx, env, dir, "v0."+minorPatch)
		},
	}
}

// stagingReplaces pins every k8s.io staging module at the version published
// for this Kubernetes release. k8s.io/kubernetes requires them at v0.0.0 and
// replaces them with ./staging/src/... directories, which only apply when it
// is the main module: that is why `go install k8s.io/kubernetes/...@version`
// refuses, and why the build goes through a module of its own.
func stagingReplaces(ctx context.Context, env []string, dir, stagingVersion string) ([]string, error) {
	out, err := runGo(ctx, env, dir, nil, "mod", "download", "-json", "k8s.io/kubernetes@"+KubernetesVersion)
	if err != nil {
		return nil, err
	}
	var download struct{ GoMod string }
	if err := json.Unmarshal(out, &download); err != nil || download.GoMod == "" {
		return nil, fmt.Errorf("go mod download k8s.io/kubernetes@%s: no go.mod in %q", KubernetesVersion, out)
	}
	out, err = runGo(ctx, env, dir, nil, "mod", "edit", "-json", download.GoMod)
	if err != nil {
		return nil, err
	}
	var goMod struct {
		Replace []struct {
			Old struct{ Path string }
			New struct{ Path string }
		}
	}
	if err := json.Unmarshal(out, &goMod); err != nil {
		return nil, fmt.Errorf("parse go.mod of k8s.io/kubernetes@%s: %w", KubernetesVersion, err)
	}
	var lines []string
	for _, r := range goMod.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") {
			lines = append(lines, r.Old.Path+" => "+r.Old.Path+" "+stagingVersion)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("go.mod of k8s.io/kubernetes@%s replaces no staging module", KubernetesVersion)
	}
	return lines, nil
}

// EnsureBinaries returns the cached kube-apiserver and etcd binaries,
// building those that are missing. A build takes minutes (kube-apiserver:
// the longest); a file lock per component makes concurrent callers, in this
// or other processes, wait for one build instead of each running their own.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (Binaries, error) {
	dir, err := opts.cacheDir()
	if err != nil {
		return Binaries{}, err
	}
	etcd, err := ensure(ctx, dir, etcdRecipe(), opts.logf)
	if err != nil {
		return Binaries{}, err
	}
	apiserver, err := ensure(ctx, dir, apiServerRecipe(), opts.logf)
	if err != nil {
		return Binaries{}, err
	}
	return Binaries{APIServer: apiserver, Etcd: etcd}, nil
}

func (o BuildOptions) cacheDir() (string, error) {
	if o.CacheDir != "" {
		return o.CacheDir, nil
	}
	if dir := os.Getenv("KUBETEST_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kubetest binary cache: %w (set KUBETEST_CACHE_DIR)", err)
	}
	return filepath.Join(base, "gcptoken", "kubetest"), nil
}

func (o BuildOptions) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// ensure returns the path of r's binary under cacheDir, building it first
// when it is missing.
func ensure(ctx context.Context, cacheDir string, r recipe, logf func(string, ...any)) (string, error) {
	versionDir := filepath.Join(cacheDir, r.name+"-"+r.version)
	binary := filepath.Join(versionDir, r.name)
	if isExecutable(binary) {
		return binary, nil
	}
	if err := os.MkdirAll(versionDir, 0o700); err != nil {
		return "", fmt.Errorf("create kubetest cache %s: %w", versionDir, err)
	}
	unlock, err := lockFile(ctx, versionDir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(binary) { // another process built it while we waited
		return binary, nil
	}
	logf("kubetest: building %s %s from the Go module proxy (once per machine; minutes)", r.name, r.version)
	start := time.Now()
	if err := build(ctx, r, versionDir, binary); err != nil {
		return "", err
	}
	logf("kubetest: built %s %s in %s", r.name, r.version, time.Since(start).Round(time.Second))
	return binary, nil
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode()&0o100 != 0
}

// build compiles r in a throw-away module and moves the binary to dest
// atomically, so a reader never sees half a binary. The build's output is
// kept beside it in build.log.
func build(ctx context.Context, r recipe, versionDir, dest string) error {
	work, err := os.MkdirTemp(versionDir, "build-")
	if err != nil {
		return fmt.Errorf("build %s: %w", r.name, err)
	}
	defer os.RemoveAll(work)
	env := buildEnv()
	goMod := "module kubetestbuild\n\ngo 1.26.0\n\nrequire " + r.module + " " + r.version + "\n"
	if r.replaces != nil {
		lines, err := r.replaces(ctx, env, work)
		if err != nil {
			return fmt.Errorf("build %s %s: %w", r.name, r.version, err)
		}
		goMod += "\nreplace (\n\t" + strings.Join(lines, "\n\t") + "\n)\n"
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(goMod), 0o600); err != nil {
		return fmt.Errorf("build %s: %w", r.name, err)
	}
	// build.log keeps the last build's go output (module downloads, errors).
	logPath := filepath.Join(versionDir, "build.log")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("build %s: %w", r.name, err)
	}
	defer log.Close()
	steps := [][]string{
		{"get", r.pkg + "@" + r.version},
		{"build", "-trimpath", "-ldflags", strings.Join(append([]string{"-s", "-w"}, r.ldflags...), " "),
			"-o", filepath.Join(work, r.name), r.pkg},
	}
	for _, args := range steps {
		if _, err := runGo(ctx, env, work, log, args...); err != nil {
			return fmt.Errorf("build %s %s (log: %s): %w", r.name, r.version, logPath, err)
		}
	}
	if err := os.Rename(filepath.Join(work, r.name), dest); err != nil {
		return fmt.Errorf("install %s: %w", r.name, err)
	}
	return nil
}

// buildEnv is the caller's environment with the settings the recipe relies
// on: a static binary, this Go toolchain (no toolchain download), no
// workspace, and go.mod/go.sum updates allowed in the throw-away module.
func buildEnv() []string {
	env := os.Environ()
	return append(env, "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod", "GO111MODULE=on")
}

// runGo runs the go command at the lowest CPU priority (the build competes
// with the tests that wait for it) and returns its standard output. Its
// standard error goes to log, when given, and the end of it into the error.
func runGo(ctx context.Context, env []string, dir string, log io.Writer, args ...string) ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("kubetest builds its servers with the go command: %w", err)
	}
	name, argv := goBin, args
	if nice, err := exec.LookPath("nice"); err == nil {
		name, argv = nice, append([]string{"-n", "19", goBin}, args...)
	}
	cmd := exec.CommandContext(ctx, name, argv...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if log != nil {
		cmd.Stderr = io.MultiWriter(&stderr, log)
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = "…" + msg[len(msg)-2000:]
		}
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}
