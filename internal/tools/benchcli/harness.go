package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// buildFlags are the release build's: the figures are about the binary
// users run.
var buildFlags = []string{"-trimpath", "-ldflags", "-s -w"}

// Paths the bench server answers itself; everything else goes to the fake.
const floorTokenPath = "/benchcli/floor-token"

// Bench is a built gcptoken and its floors, a fake Google on loopback and
// a token cache warmed from it.
type Bench struct {
	dir                           string
	gcptoken, floor, floorHTTP    string // binaries
	keyFile, accessEntry, idEntry string // floors' inputs
	env                           []string
	server                        *benchServer
	cases                         []Case
}

// Case is one command measured against its floor.
type Case struct {
	Name string
	// Args, Stdin and Env are gcptoken's; the floor gets the same Stdin
	// and Env.
	Args  []string
	Stdin string
	Env   []string
	// FloorArgs are the floor's arguments.
	FloorArgs []string
	// Uncached cases make one request to the fake per run; the others
	// must make none.
	Uncached bool
	floorBin string
}

// Setup builds the binaries from the repository at root, starts the fake
// and warms the cache. Close removes everything.
func Setup(ctx context.Context, root string) (b *Bench, err error) {
	dir, err := os.MkdirTemp("", "benchcli-")
	if err != nil {
		return nil, err
	}
	b = &Bench{dir: dir}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	for _, bin := range []struct {
		out *string
		pkg string
	}{{&b.gcptoken, "./cmd/gcptoken"}, {&b.floor, "./internal/tools/benchcli/floor"}, {&b.floorHTTP, "./internal/tools/benchcli/floorhttp"}} {
		*bin.out = filepath.Join(dir, filepath.Base(bin.pkg))
		if err := build(ctx, root, bin.pkg, *bin.out); err != nil {
			return nil, err
		}
	}
	if b.server, err = startServer(); err != nil {
		return nil, err
	}
	if err := b.writeFiles(); err != nil {
		return nil, err
	}
	if err := b.warm(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func build(ctx context.Context, root, pkg, out string) error {
	args := append(append([]string{"build"}, buildFlags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	return nil
}

// writeFiles writes the key file and sets the environment every child
// runs in: nothing of the user's (HOME, caches, ADC, gcloud's config), and
// every Google endpoint on the loopback fake. GCE_METADATA_HOST names a
// closed loopback port, so nothing can probe the real metadata server.
func (b *Bench) writeFiles() error {
	key, err := b.server.fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		return err
	}
	b.keyFile = filepath.Join(b.dir, "key.json")
	if err := os.WriteFile(b.keyFile, key, 0o600); err != nil {
		return err
	}
	home := filepath.Join(b.dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	b.env = []string{
		"HOME=" + home,
		"GOOGLE_APPLICATION_CREDENTIALS=" + b.keyFile,
		"GCPTOKEN_CACHE_DIR=" + filepath.Join(b.dir, "cache"),
		"GCPTOKEN_EMULATOR_HOST=" + b.server.addr,
		"GCE_METADATA_HOST=127.0.0.1:1",
		"CLOUDSDK_CONFIG=" + filepath.Join(home, "gcloud"),
	}
	return nil
}

// warm fills the cache with one run of each cached command, finds the
// entries the floors read, and makes the cases.
func (b *Bench) warm(ctx context.Context) error {
	access, err := b.newEntry(ctx, []string{"print-access-token"})
	if err != nil {
		return err
	}
	b.accessEntry = access
	if b.idEntry, err = b.newEntry(ctx, []string{"print-identity-token", "--audience", "https://bench.example.com"}); err != nil {
		return err
	}
	execInfo := `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`
	b.cases = []Case{
		{Name: "cached print-access-token", Args: []string{"print-access-token"}, FloorArgs: []string{b.accessEntry}},
		{Name: "cached print-identity-token", Args: []string{"print-identity-token", "--audience", "https://bench.example.com"}, FloorArgs: []string{b.idEntry}},
		{Name: "git-credential get", Args: []string{"git-credential", "get"}, Stdin: "protocol=https\nhost=source.developers.google.com\n\n", FloorArgs: []string{b.accessEntry}},
		{Name: "docker-credential get", Args: []string{"docker-credential", "get"}, Stdin: "us-docker.pkg.dev\n", FloorArgs: []string{b.accessEntry}},
		{Name: "kubectl-credential", Args: []string{"kubectl-credential"}, Env: []string{"KUBERNETES_EXEC_INFO=" + execInfo}, FloorArgs: []string{b.accessEntry}},
		{Name: "uncached print-access-token", Args: []string{"print-access-token", "--no-cache"}, Uncached: true,
			FloorArgs: []string{b.keyFile, "http://" + b.server.addr + floorTokenPath}},
	}
	accessTok, _, err := b.run(ctx, b.gcptoken, &b.cases[0], true)
	if err != nil {
		return err
	}
	idTok, _, err := b.run(ctx, b.gcptoken, &b.cases[1], true)
	if err != nil {
		return err
	}
	// The floor's token answer is as long as the fake's.
	b.server.setFloorAnswer(strings.TrimSpace(accessTok))
	for i := range b.cases {
		c := &b.cases[i]
		c.floorBin = b.floor
		if c.Uncached {
			c.floorBin = b.floorHTTP
		}
		out, _, err := b.run(ctx, b.gcptoken, c, true)
		if err == nil {
			_, _, err = b.run(ctx, c.floorBin, c, false)
		}
		if err != nil {
			return fmt.Errorf("warm-up of %s: %w", c.Name, err)
		}
		// Each cached command must print the cached token, not an error
		// or an answer for another host.
		want := strings.TrimSpace(accessTok)
		if c.Args[0] == "print-identity-token" {
			want = strings.TrimSpace(idTok)
		}
		if !c.Uncached && !strings.Contains(out, want) {
			return fmt.Errorf("warm-up of %s: the output does not hold the cached token", c.Name)
		}
	}
	return nil
}

// newEntry runs gcptoken with args once and returns the cache file it
// wrote.
func (b *Bench) newEntry(ctx context.Context, args []string) (string, error) {
	before, err := b.cacheFiles()
	if err != nil {
		return "", err
	}
	if _, _, err := b.run(ctx, b.gcptoken, &Case{Args: args}, true); err != nil {
		return "", fmt.Errorf("gcptoken %s: %w", strings.Join(args, " "), err)
	}
	after, err := b.cacheFiles()
	if err != nil {
		return "", err
	}
	var added []string
	for f := range after {
		if !before[f] {
			added = append(added, f)
		}
	}
	if len(added) != 1 {
		return "", fmt.Errorf("gcptoken %s wrote %d cache files (%v); want 1", strings.Join(args, " "), len(added), added)
	}
	return added[0], nil
}

// cacheFiles are the regular files of the cache directory but its locks.
func (b *Bench) cacheFiles() (map[string]bool, error) {
	files := map[string]bool{}
	root := filepath.Join(b.dir, "cache")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == root {
			return filepath.SkipDir
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && !strings.HasSuffix(path, ".lock") {
			files[path] = true
		}
		return nil
	})
	return files, err
}

// Cases are the commands measured, each with its floor.
func (b *Bench) Cases() []Case { return b.cases }

// Close stops the fake and removes the binaries and the cache.
func (b *Bench) Close() {
	if b.server != nil {
		b.server.close()
	}
	os.RemoveAll(b.dir)
}

// run runs bin once for c (gcptoken's arguments, or the floor's) and
// returns its output and resource use.
func (b *Bench) run(ctx context.Context, bin string, c *Case, isGcptoken bool) (string, Run, error) {
	args := c.FloorArgs
	if isGcptoken {
		args = c.Args
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append([]string{}, b.env...), c.Env...)
	cmd.Stdin = strings.NewReader(c.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return "", Run{}, fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	if stdout.Len() == 0 {
		return "", Run{}, fmt.Errorf("%s %s printed nothing", filepath.Base(bin), strings.Join(args, " "))
	}
	ps := cmd.ProcessState
	return stdout.String(), Run{Wall: wall, CPU: ps.UserTime() + ps.SystemTime(), MinorFaults: minorFaults(ps)}, nil
}

// Run is one process's cost.
type Run struct {
	Wall, CPU   time.Duration
	MinorFaults int64 // -1 where the platform does not say
}

// benchServer serves the fake on loopback, counts its requests and times
// its handler, and answers the floor's token request with a canned
// answer.
type benchServer struct {
	fake     *fakegoogle.Server
	addr     string
	srv      *http.Server
	requests atomic.Int64

	mu          sync.Mutex
	handlerTime []time.Duration
	floorAnswer []byte
}

func startServer() (*benchServer, error) {
	fake, err := fakegoogle.New(nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchServer{fake: fake, addr: ln.Addr().String()}
	fake.SetBaseURL("http://" + s.addr)
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *benchServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == floorTokenPath {
		s.mu.Lock()
		answer := s.floorAnswer
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(answer)
		return
	}
	s.requests.Add(1)
	start := time.Now()
	s.fake.ServeHTTP(w, r)
	d := time.Since(start)
	s.mu.Lock()
	s.handlerTime = append(s.handlerTime, d)
	s.mu.Unlock()
}

// setFloorAnswer makes the floor's token answer a token response like the
// fake's, for an access token as long as tok.
func (s *benchServer) setFloorAnswer(tok string) {
	body, _ := json.Marshal(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
	s.mu.Lock()
	s.floorAnswer = body
	s.mu.Unlock()
}

// takeHandlerTimes returns the fake's handler times since the last call.
func (s *benchServer) takeHandlerTimes() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.handlerTime
	s.handlerTime = nil
	return t
}

func (s *benchServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
}

// describe prints the environment and each command line with its floor's,
// to measure them with other tools while the fake runs.
func (b *Bench) describe(w io.Writer) {
	fmt.Fprintln(w, "\nthe environment of every run (the fake runs until interrupted):")
	for _, kv := range b.env {
		fmt.Fprintf(w, "  export %s\n", shellQuote(kv))
	}
	for _, c := range b.cases {
		fmt.Fprintf(w, "%s:\n", c.Name)
		fmt.Fprintf(w, "  %s%s\n", envPrefix(c.Env), shellLine(append([]string{b.gcptoken}, c.Args...)))
		fmt.Fprintf(w, "  %s%s\n", envPrefix(c.Env), shellLine(append([]string{c.floorBin}, c.FloorArgs...)))
		if c.Stdin != "" {
			fmt.Fprintf(w, "  standard input: %q\n", c.Stdin)
		}
	}
}

func envPrefix(env []string) string {
	var s string
	for _, kv := range env {
		s += shellQuote(kv) + " "
	}
	return s
}

func shellLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
