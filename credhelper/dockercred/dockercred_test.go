package dockercred

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker-credential-helpers/credentials"

	"github.com/gcptoken/gcptoken"
)

func TestRegistryHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "gcr.io", want: "gcr.io"},
		{in: "https://gcr.io", want: "gcr.io"},
		{in: "https://EU.GCR.IO/v2/", want: "eu.gcr.io"},
		{in: "us-docker.pkg.dev/my-project/repo", want: "us-docker.pkg.dev"},
		{in: "  gcr.io\n", want: "gcr.io"},
		{in: "https://gcr.io:443", want: "gcr.io"},
		{in: "localhost:5000", want: "localhost:5000"},
		{in: "http://[::1]:5000/v2", want: "[::1]:5000"},
		{in: "ftp://gcr.io", wantErr: true},
		{in: "https://user@gcr.io", wantErr: true},
		{in: "", wantErr: true},
		{in: "https://", wantErr: true},
		{in: "gcr.io\x00", wantErr: true},
	}
	for _, tt := range tests {
		got, err := RegistryHost(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("RegistryHost(%q) = %q, %v; want %q, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestMatchHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"gcr.io", "gcr.io", true},
		{"gcr.io", "gcr.io:5000", true},
		{"gcr.io", "GCR.IO", true},
		{"gcr.io", "evilgcr.io", false},
		{"*.gcr.io", "eu.gcr.io", true},
		{"*.gcr.io", "gcr.io", false},
		{"*.gcr.io", "a.b.gcr.io", false},
		{"*.gcr.io", ".gcr.io", false},
		{"*.gcr.io", "eu.gcr.io.evil.com", false},
		{"*-docker.pkg.dev", "us-central1-docker.pkg.dev", true},
		{"*-docker.pkg.dev", "-docker.pkg.dev", false},
		{"*-docker.pkg.dev", "evil.com/x-docker.pkg.dev", false},
		{"*-docker.pkg.dev", "a.evil-docker.pkg.dev", false},
		{"docker.*.rep.pkg.dev", "docker.us-east1.rep.pkg.dev", true},
		{"docker.*.rep.pkg.dev", "docker..rep.pkg.dev", false},
		{"registry.example.com:5000", "registry.example.com:5000", true},
		{"registry.example.com:5000", "registry.example.com", false},
		{"registry.example.com:5000", "registry.example.com:5001", false},
		{"[::1]", "[::1]:5000", true},
		{"a*b*c", "axbyc", false},
	}
	for _, tt := range tests {
		if got := MatchHost(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchHost(%q, %q) = %t; want %t", tt.pattern, tt.host, got, tt.want)
		}
	}
}

// countingProvider returns a fixed token and counts calls.
type countingProvider struct {
	calls atomic.Int32
	err   error
}

func (p *countingProvider) Token(context.Context) (*gcptoken.Token, error) {
	p.calls.Add(1)
	if p.err != nil {
		return nil, p.err
	}
	return &gcptoken.Token{Value: "ya29.docker", Kind: gcptoken.AccessToken, Expiry: time.Now().Add(time.Hour)}, nil
}

func TestServe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		helper     func(p gcptoken.TokenProvider) *Helper
		action     string
		stdin      string
		wantOut    string // JSON compared as a map, or text prefix
		wantErr    string
		wantNotFnd bool
		wantCalls  int32
	}{
		{name: "get gcr", action: "get", stdin: "https://gcr.io\n", wantCalls: 1,
			wantOut: `{"ServerURL":"https://gcr.io","Username":"oauth2accesstoken","Secret":"ya29.docker"}`},
		{name: "get artifact registry", action: "get", stdin: "europe-west1-docker.pkg.dev", wantCalls: 1,
			wantOut: `{"ServerURL":"europe-west1-docker.pkg.dev","Username":"oauth2accesstoken","Secret":"ya29.docker"}`},
		{name: "get docker hub", action: "get", stdin: "https://index.docker.io/v1/", wantNotFnd: true, wantErr: "credentials not found in native keychain"},
		{name: "get extra host", action: "get", stdin: "registry.example.com:5000", wantCalls: 1,
			helper: func(p gcptoken.TokenProvider) *Helper {
				return &Helper{Provider: p, Hosts: []string{"registry.example.com:5000"}}
			},
			wantOut: `{"ServerURL":"registry.example.com:5000","Username":"oauth2accesstoken","Secret":"ya29.docker"}`},
		{name: "get allowed host", action: "get", stdin: "mirror.example.com", wantCalls: 1,
			helper: func(p gcptoken.TokenProvider) *Helper {
				return &Helper{Provider: p, Allow: func(h string) bool { return h == "mirror.example.com" }}
			},
			wantOut: `{"ServerURL":"mirror.example.com","Username":"oauth2accesstoken","Secret":"ya29.docker"}`},
		{name: "get empty", action: "get", stdin: "\n", wantErr: "no credentials server URL"},
		{name: "get garbage", action: "get", stdin: "::::", wantNotFnd: true, wantErr: "credentials not found"},
		{name: "store", action: "store", stdin: `{"ServerURL":"https://gcr.io","Username":"oauth2accesstoken","Secret":"x"}`},
		{name: "store malformed", action: "store", stdin: `{"ServerURL":`, wantErr: "unexpected EOF"},
		{name: "store without username", action: "store", stdin: `{"ServerURL":"gcr.io"}`, wantErr: "no credentials username"},
		{name: "erase", action: "erase", stdin: "https://gcr.io"},
		{name: "erase empty", action: "erase", stdin: "", wantErr: "no credentials server URL"},
		{name: "list", action: "list", wantOut: `{"gcr.io":"oauth2accesstoken"}`},
		{name: "version", action: "version", wantOut: "docker-credential-gcptoken (github.com/gcptoken/gcptoken) devel\n"},
		{name: "unknown action", action: "frobnicate", wantErr: `unknown action "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &countingProvider{}
			h := &Helper{Provider: p}
			if tt.helper != nil {
				h = tt.helper(p)
			}
			var out bytes.Buffer
			err := h.Serve(context.Background(), tt.action, strings.NewReader(tt.stdin), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v; want one containing %q", err, tt.wantErr)
				}
				if IsNotFound(err) != tt.wantNotFnd {
					t.Errorf("IsNotFound(%v) = %t; want %t", err, !tt.wantNotFnd, tt.wantNotFnd)
				}
			} else if err != nil {
				t.Fatalf("Serve(%s): %v", tt.action, err)
			}
			if got := p.calls.Load(); got != tt.wantCalls {
				t.Errorf("got %d token calls; want %d", got, tt.wantCalls)
			}
			if strings.HasPrefix(tt.wantOut, "{") {
				var got, want map[string]string
				if err := json.Unmarshal(out.Bytes(), &got); err != nil {
					t.Fatalf("output %q is not JSON: %v", out.String(), err)
				}
				if err := json.Unmarshal([]byte(tt.wantOut), &want); err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("got %s = %q; want %q (output %s)", k, got[k], v, out.String())
					}
				}
				return
			}
			if out.String() != tt.wantOut {
				t.Errorf("got output %q; want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestGetProviderError(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("token endpoint down")
	h := &Helper{Provider: &countingProvider{err: sentinel}}
	var out bytes.Buffer
	err := h.Serve(context.Background(), "get", strings.NewReader("gcr.io"), &out)
	if !errors.Is(err, sentinel) || IsNotFound(err) {
		t.Fatalf("got %v; want the provider's error, not not-found", err)
	}
	if !strings.Contains(err.Error(), "gcr.io") {
		t.Errorf("error %q does not name the registry", err)
	}
	if out.Len() != 0 {
		t.Errorf("got output %q on failure; want none (the caller prints the error)", out.String())
	}
	if err := (&Helper{}).Serve(context.Background(), "get", strings.NewReader("gcr.io"), &out); err == nil {
		t.Error("a Helper without Provider served get")
	}
}

func TestGetRefusesMalformedToken(t *testing.T) {
	t.Parallel()
	p := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		return &gcptoken.Token{Value: "ya29.x\r\nX-Evil: 1"}, nil
	})
	_, secret, err := (&Helper{Provider: p}).Get(context.Background(), "gcr.io")
	if !errors.Is(err, gcptoken.ErrMalformedToken) || secret != "" {
		t.Errorf("Get = %q, %v; want no secret and an error matching ErrMalformedToken", secret, err)
	}
}

func TestListHasOnlyExactHosts(t *testing.T) {
	t.Parallel()
	h := &Helper{Provider: &countingProvider{}, Hosts: []string{"registry.example.com", "*.example.org"}}
	got := h.List()
	if len(got) != 2 || got["gcr.io"] != Username || got["registry.example.com"] != Username {
		t.Errorf("List() = %v; want gcr.io and registry.example.com", got)
	}
}

func FuzzGet(f *testing.F) {
	for _, s := range []string{"gcr.io", "https://us-docker.pkg.dev/x", "index.docker.io", "", "\n\n", "http://[::1]:80", "a*b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stdin string) {
		h := &Helper{Provider: &countingProvider{}}
		var out bytes.Buffer
		err := h.Serve(context.Background(), "get", strings.NewReader(stdin), &out)
		if err != nil {
			if out.Len() != 0 {
				t.Errorf("output %q with error %v", out.String(), err)
			}
			return
		}
		var c credentials.Credentials
		if err := json.Unmarshal(out.Bytes(), &c); err != nil {
			t.Fatalf("output %q is not JSON: %v", out.String(), err)
		}
		host, err := RegistryHost(c.ServerURL)
		if err != nil || !h.Serves(host) {
			t.Errorf("served a token for %q (host %q, %v)", c.ServerURL, host, err)
		}
	})
}

// TestServeErase: docker logout (erase) of a served registry calls Erase,
// so that a cache forgets its token; other registries do not.
func TestServeErase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		stdin     string
		wantCalls int
	}{
		{name: "served registry", stdin: "https://gcr.io", wantCalls: 1},
		{name: "artifact registry", stdin: "us-docker.pkg.dev", wantCalls: 1},
		{name: "other registry", stdin: "https://index.docker.io/v1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			p := &countingProvider{}
			h := &Helper{Provider: p, Erase: func(context.Context) error { calls++; return nil }}
			var out bytes.Buffer
			if err := h.Serve(context.Background(), "erase", strings.NewReader(tt.stdin), &out); err != nil {
				t.Fatal(err)
			}
			if calls != tt.wantCalls || p.calls.Load() != 0 {
				t.Errorf("Erase calls = %d, token calls = %d; want %d, 0", calls, p.calls.Load(), tt.wantCalls)
			}
		})
	}
	sentinel := errors.New("cache broken")
	h := &Helper{Provider: &countingProvider{}, Erase: func(context.Context) error { return sentinel }}
	var out bytes.Buffer
	if err := h.Serve(context.Background(), "erase", strings.NewReader("gcr.io"), &out); err == nil || !strings.Contains(err.Error(), "cache broken") {
		t.Errorf("Serve(erase) = %v; want the Erase error", err)
	}
}
