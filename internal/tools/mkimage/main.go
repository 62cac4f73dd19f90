// Command mkimage packs a static gcptoken binary into a container image
// without a container daemon or a base image: one layer holding /gcptoken,
// run as the unprivileged user 65532:65532, written as a `docker save`
// tarball that `docker load` and `podman load` accept.
//
// ko does the same but pulls its base image from a registry at build time;
// this builds FROM scratch with go-containerregistry, so it works offline.
// The image has no shell and no /etc/passwd (the user is numeric). CA
// certificates are optional (-ca-certs): serving on loopback or against the
// emulator needs none, but a metadata server or proxy that fetches tokens
// from Google talks TLS and needs roots, so `make image` adds the build
// machine's bundle when it has one, at /etc/ssl/certs/ca-certificates.crt
// where Go's crypto/x509 looks first.
//
// Builds are reproducible: every timestamp is SOURCE_DATE_EPOCH (or
// -source-date-epoch, default 0), so one binary gives one image digest.
//
//	mkimage -binary bin/linux/gcptoken -out bin/gcptoken-image.tar -tag gcptoken:dev
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Where the binary goes and who runs it. 65532 is the "nonroot" user of
// distroless images, so volume permissions written for those work here.
const (
	binaryPath = "/gcptoken"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	imageUser  = "65532:65532"
	maxBinary  = 512 << 20
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// options are mkimage's flags.
type options struct {
	binary   string
	out      string
	tag      string
	version  string
	revision string
	caCerts  string
	epoch    int64
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.binary, "binary", "", "static linux `FILE` to pack (CGO_ENABLED=0); required")
	fs.StringVar(&o.out, "out", "", "image tarball `FILE` to write; required")
	fs.StringVar(&o.tag, "tag", "gcptoken:dev", "image `NAME:TAG` recorded in the tarball")
	fs.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version `LABEL`")
	fs.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision `LABEL` (a commit id; optional)")
	fs.StringVar(&o.caCerts, "ca-certs", "", "PEM `FILE` of CA certificates to add at "+caPath+" (optional; needed to reach Google over TLS)")
	epoch := fs.String("source-date-epoch", "", "timestamp of every file and of the image, in `SECONDS` since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mkimage: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q: all inputs are flags", fs.Arg(0))
	}
	if o.binary == "" || o.out == "" {
		return fail("-binary and -out are required, e.g. -binary bin/linux/gcptoken -out bin/gcptoken-image.tar")
	}
	e := *epoch
	if e == "" {
		e = getenv("SOURCE_DATE_EPOCH")
	}
	if e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n < 0 {
			return fail("-source-date-epoch / SOURCE_DATE_EPOCH %q: want a non-negative number of seconds", e)
		}
		o.epoch = n
	}
	ref, err := name.NewTag(o.tag, name.WithDefaultRegistry(""))
	if err != nil {
		return fail("-tag %q: %v", o.tag, err)
	}
	img, err := build(&o)
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	if err := tarball.WriteToFile(o.out, ref, img); err != nil {
		fmt.Fprintf(stderr, "mkimage: write %s: %v\n", o.out, err)
		return 1
	}
	digest, err := img.Digest()
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%s, %s)\n", o.out, o.tag, digest)
	return 0
}

// build returns the image for o.binary.
func build(o *options) (v1.Image, error) {
	bin, err := readBinary(o.binary)
	if err != nil {
		return nil, err
	}
	arch, err := staticLinuxArch(bin)
	if err != nil {
		return nil, fmt.Errorf("-binary %s: %w", o.binary, err)
	}
	files := []layerFile{{path: binaryPath, mode: 0o755, data: bin}}
	if o.caCerts != "" {
		pem, err := os.ReadFile(o.caCerts)
		if err != nil {
			return nil, fmt.Errorf("-ca-certs: %w", err)
		}
		if !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")) {
			return nil, fmt.Errorf("-ca-certs %s: no PEM certificate in it", o.caCerts)
		}
		files = append(files, layerFile{path: caPath, mode: 0o644, data: pem})
	}
	created := time.Unix(o.epoch, 0).UTC()
	layerTar, err := layerTar(files, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Author:    "gcptoken mkimage",
			Created:   v1.Time{Time: created},
			CreatedBy: "COPY gcptoken " + binaryPath,
			Comment:   "static binary, FROM scratch",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Created = v1.Time{Time: created}
	cf.Author = "gcptoken"
	labels := map[string]string{
		"org.opencontainers.image.title":       "gcptoken",
		"org.opencontainers.image.description": "Google Cloud bearer tokens: CLI, GCE metadata-server emulator and token-adding proxy",
		"org.opencontainers.image.source":      "https://github.com/gcptoken/gcptoken",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.created":     created.Format(time.RFC3339),
	}
	if o.revision != "" {
		labels["org.opencontainers.image.revision"] = o.revision
	}
	cf.Config = v1.Config{
		Entrypoint: []string{binaryPath},
		Cmd:        []string{"--help"},
		User:       imageUser,
		WorkingDir: "/",
		Labels:     labels,
		// No PATH: there is nothing to find on it. HOME points somewhere
		// that exists, for code that asks for a home directory.
		Env: []string{"HOME=/"},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return img, nil
}

func readBinary(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-binary: %w (build it first: make image)", err)
	}
	defer f.Close()
	bin, err := io.ReadAll(io.LimitReader(f, maxBinary+1))
	if err != nil {
		return nil, fmt.Errorf("-binary %s: %w", path, err)
	}
	if len(bin) > maxBinary {
		return nil, fmt.Errorf("-binary %s: larger than %d MiB; is it the right file?", path, maxBinary>>20)
	}
	return bin, nil
}

// staticLinuxArch checks that bin is a statically linked Linux executable —
// an image FROM scratch has no dynamic loader or libc, so anything else fails
// at start with a baffling "no such file or directory" — and returns its
// architecture as OCI names it.
func staticLinuxArch(bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", errors.New("not an ELF executable: build with GOOS=linux")
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("ELF type %s is not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("dynamically linked (it needs a loader and libc the image does not have): build with CGO_ENABLED=0")
		}
	}
	archs := map[elf.Machine]string{
		elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_386: "386",
		elf.EM_ARM: "arm", elf.EM_PPC64: "ppc64le", elf.EM_S390: "s390x", elf.EM_RISCV: "riscv64",
	}
	arch, ok := archs[f.Machine]
	if !ok {
		return "", fmt.Errorf("unsupported architecture %s", f.Machine)
	}
	return arch, nil
}

// layerFile is a file of the layer.
type layerFile struct {
	path string // absolute
	mode int64
	data []byte
}

// layerTar is the one layer: the files (the binary owned by root and
// executable by everyone: the non-root user who runs it must not be able to
// replace it), with their parent directories, all stamped with created.
func layerTar(files []layerFile, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		rel := strings.TrimPrefix(f.path, "/")
		var parents []string
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: created, Format: tar.FormatUSTAR}); err != nil {
				return nil, fmt.Errorf("layer: %w", err)
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: rel, Size: int64(len(f.data)), Mode: f.mode, ModTime: created, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}
