package credentials

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// loopbackOnly is an HTTP client that refuses to dial anything but
// loopback addresses and records what it refused.
type loopbackOnly struct {
	mu      sync.Mutex
	refused []string
}

func (l *loopbackOnly) client() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				l.mu.Lock()
				l.refused = append(l.refused, addr)
				l.mu.Unlock()
				return nil, fmt.Errorf("test refuses to dial %s: not loopback", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func (l *loopbackOnly) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.refused) > 0 {
		t.Errorf("dialled %q; want loopback only", l.refused)
	}
}

// With GCPTOKEN_EMULATOR_HOST set, a credential file naming Google's token
// endpoint, and the defaults of impersonation and downscoping, all go to
// the emulator; nothing else is dialled.
func TestEmulatorHost(t *testing.T) {
	t.Parallel()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	key, err := f.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	// A key as Google issues it, naming Google's token endpoint.
	key = bytes.Replace(key, []byte(f.URL+"/token"), []byte(DefaultTokenURL), 1)
	if !bytes.Contains(key, []byte(DefaultTokenURL)) {
		t.Fatalf("the fake's key names no token_uri %s: %s", f.URL+"/token", key)
	}
	guard := &loopbackOnly{}
	emu := strings.TrimPrefix(f.URL, "http://")
	opts := isolated(t, map[string]string{endpoints.EnvEmulatorHost: emu})
	opts.HTTPClient = guard.client()
	sa, err := FromJSON(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Impersonate(sa, &ImpersonateOptions{Target: fakegoogle.DefaultTargetServiceAccount})
	if err != nil {
		t.Fatal(err)
	}
	down, err := Downscope(sa, &DownscopeOptions{Boundary: []byte(testBoundary)})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Credentials{"key": sa, "impersonated": imp, "downscoped": down} {
		p, err := c.AccessTokenSource(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Token(t.Context()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := f.RequestCount("/v1/token"); n != 1 {
		t.Errorf("got %d STS requests at the emulator; want 1", n)
	}
	if got := imp.TokenEndpoints(); !strings.HasPrefix(strings.Join(got, " "), f.URL) {
		t.Errorf("impersonation endpoints %q; want the emulator's", got)
	}
	guard.check(t)

	// No credential file: the metadata server is the emulator, not probed.
	c, err := Detect(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != TypeComputeMetadata || !strings.Contains(c.Source, emu) {
		t.Errorf("Detect found %s from %s; want the metadata server at %s", c.Type, c.Source, emu)
	}
	guard.check(t)
}

// The per-endpoint variables win over the emulator for the defaults they
// name; explicit options win over both.
func TestEmulatorHostOverrides(t *testing.T) {
	t.Parallel()
	key := mustJSON(t, saFile(t, ""))
	opts := isolated(t, map[string]string{
		endpoints.EnvEmulatorHost: "127.0.0.1:1",
		endpoints.EnvIAMEndpoint:  "http://127.0.0.1:2/iam",
		endpoints.EnvSTSEndpoint:  "http://127.0.0.1:3/sts",
	})
	sa, err := FromJSON(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sa.TokenEndpoints(), "http://127.0.0.1:1/token"; len(got) != 1 || got[0] != want {
		t.Errorf("key's endpoints %q; want [%q]", got, want)
	}
	imp, err := Impersonate(sa, &ImpersonateOptions{Target: targetSA})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(imp.TokenEndpoints(), " "); !strings.Contains(got, "http://127.0.0.1:2/iam/v1/projects/-/serviceAccounts/") {
		t.Errorf("impersonation endpoints %q; want $%s", got, endpoints.EnvIAMEndpoint)
	}
	imp, err = Impersonate(sa, &ImpersonateOptions{Target: targetSA, IAMEndpoint: "http://127.0.0.1:4"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(imp.TokenEndpoints(), " "); !strings.Contains(got, "http://127.0.0.1:4/v1/") {
		t.Errorf("impersonation endpoints %q; want ImpersonateOptions.IAMEndpoint", got)
	}
	down, err := Downscope(sa, &DownscopeOptions{Boundary: []byte(testBoundary)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(down.TokenEndpoints(), " "); !strings.Contains(got, "http://127.0.0.1:3/sts") {
		t.Errorf("downscoping endpoints %q; want $%s", got, endpoints.EnvSTSEndpoint)
	}
	opts.TokenURL = "http://127.0.0.1:5/token"
	if sa, err = FromJSON(key, opts); err != nil {
		t.Fatal(err)
	}
	if got := sa.TokenEndpoints(); len(got) != 1 || got[0] != opts.TokenURL {
		t.Errorf("key's endpoints %q; want Options.TokenURL", got)
	}
}

func TestEmulatorHostMalformed(t *testing.T) {
	t.Parallel()
	_, err := FromJSON(mustJSON(t, saFile(t, "")), isolated(t, map[string]string{endpoints.EnvEmulatorHost: "http://localhost:8086"}))
	wantErrContains(t, err, endpoints.EnvEmulatorHost, "host:port")
}
