package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/idtoken"
)

// emulatorProgramEnv marks the re-executed test binary as the program under test.
const emulatorProgramEnv = "GCPTOKEN_TEST_EMULATOR_ENV_PROGRAM"

// A Go program run with nothing but the emulator's env.sh in its
// environment talks to the emulator only: it impersonates, downscopes and
// verifies an ID token with gcptoken's library, and its HTTP client and
// name resolver refuse everything that is not loopback. The program is this
// test binary, run again (TestEmulatorEnvProgram).
func TestEmulatorEnvIsHonouredByTheLibrary(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	startEmulator(t, stateDir)
	data, err := os.ReadFile(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		t.Fatal(err)
	}
	vars, err := parseEnvSh(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if vars[envEmulatorHost] == "" {
		t.Fatalf("env.sh sets no %s:\n%s", envEmulatorHost, data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestEmulatorEnvProgram$", "-test.v")
	cmd.Env = []string{emulatorProgramEnv + "=1", "HOME=" + t.TempDir()} // and env.sh, nothing else
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "emulator-only: ok") {
		t.Fatalf("the program under env.sh failed: %v\n%s", err, out)
	}
}

// TestEmulatorEnvProgram is the program TestEmulatorEnvIsHonouredByTheLibrary
// runs; it does nothing unless run so.
func TestEmulatorEnvProgram(t *testing.T) {
	if os.Getenv(emulatorProgramEnv) != "1" {
		return // not the program: see TestEmulatorEnvIsHonouredByTheLibrary
	}
	guard := &loopbackGuard{}
	net.DefaultResolver = &net.Resolver{PreferGo: true, Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
		guard.refuse("resolve via " + addr)
		return nil, fmt.Errorf("no name resolution in this program")
	}}
	ctx := context.Background()
	client := guard.client()
	creds, err := credentials.Detect(ctx, &credentials.Options{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := credentials.Impersonate(creds, &credentials.ImpersonateOptions{Target: fakegoogle.DefaultTargetServiceAccount})
	if err != nil {
		t.Fatal(err)
	}
	down, err := credentials.Downscope(creds, &credentials.DownscopeOptions{Boundary: []byte(
		`{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b","availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*credentials.Credentials{"impersonated": imp, "downscoped": down} {
		tp, err := c.AccessTokenProvider(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Token(ctx); err != nil {
			t.Errorf("%s access token: %v", name, err)
		}
	}
	const aud = "https://my-service.example"
	idp, err := imp.IDTokenProvider(aud, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := idp.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := idtoken.NewValidator(&idtoken.ValidatorOptions{Client: client})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Validate(ctx, tok.Value, aud)
	if err != nil {
		t.Fatalf("verify with the emulator's keys: %v", err)
	}
	if p.Subject == "" {
		t.Errorf("payload has no subject: %+v", p)
	}
	if refused := guard.refusals(); len(refused) > 0 {
		t.Fatalf("the program tried to leave loopback: %q", refused)
	}
	fmt.Println("emulator-only: ok")
}

// parseEnvSh reads the assignments of env.sh's export lines: NAME='value'
// (quoted as shellQuote does) or NAME=word, several per line.
func parseEnvSh(s string) (map[string]string, error) {
	vars := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "export ")
		for ok && rest != "" {
			name, after, found := strings.Cut(rest, "=")
			if !found || name == "" || strings.ContainsAny(name, " '#") {
				return nil, fmt.Errorf("env.sh: cannot read %q", line)
			}
			var v strings.Builder
			i := 0
			for i < len(after) && after[i] != ' ' && after[i] != '\t' {
				if after[i] == '\'' {
					end := strings.IndexByte(after[i+1:], '\'')
					if end < 0 {
						return nil, fmt.Errorf("env.sh: unterminated quote in %q", line)
					}
					v.WriteString(after[i+1 : i+1+end])
					i += end + 2
					continue
				}
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				v.WriteByte(after[i])
				i++
			}
			vars[name] = v.String()
			rest = strings.TrimSpace(after[i:])
			if strings.HasPrefix(rest, "#") {
				break
			}
		}
	}
	return vars, nil
}

// loopbackGuard makes an HTTP client that dials loopback addresses only,
// recording what it refused.
type loopbackGuard struct {
	mu      sync.Mutex
	refused []string
}

func (g *loopbackGuard) refuse(what string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused = append(g.refused, what)
}

func (g *loopbackGuard) refusals() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refused...)
}

func (g *loopbackGuard) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				g.refuse(addr)
				return nil, fmt.Errorf("refusing to dial %s: not loopback", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}
