package gitcred

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Request
		wantErr string
	}{
		{name: "git 2.39", in: "protocol=https\nhost=source.developers.google.com\n\n",
			want: Request{Protocol: "https", Host: "source.developers.google.com"}},
		{name: "eof without blank line", in: "protocol=https\nhost=h:8443\npath=p/r.git\nusername=me",
			want: Request{Protocol: "https", Host: "h:8443", Path: "p/r.git", Username: "me"}},
		{name: "stops at blank line", in: "protocol=https\n\nhost=ignored\n", want: Request{Protocol: "https"}},
		{name: "crlf", in: "protocol=https\r\nhost=a\r\n\r\n", want: Request{Protocol: "https", Host: "a"}},
		{name: "value with equals", in: "protocol=https\nhost=a\nwwwauth[]=Basic realm=\"x\"\n", want: Request{Protocol: "https", Host: "a"}},
		{name: "empty", in: "", want: Request{}},
		{name: "no equals", in: "protocol=https\nhost\n", wantErr: `line "host": want key=value`},
		{name: "empty key", in: "=x\n", wantErr: "empty key"},
		{name: "nul", in: "host=a\x00b\n", wantErr: "NUL"},
		{name: "huge", in: "host=" + strings.Repeat("a", maxInput), wantErr: "larger than"},
		{name: "many lines", in: strings.Repeat("capability[]=x\n", maxInput/10), wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequest(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Protocol != tt.want.Protocol || got.Host != tt.want.Host || got.Path != tt.want.Path || got.Username != tt.want.Username {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
	req, err := ParseRequest(strings.NewReader("wwwauth[]=Basic\nwwwauth[]=Bearer\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Attrs["wwwauth[]"]; len(got) != 2 || got[0] != "Basic" || got[1] != "Bearer" {
		t.Errorf("got wwwauth[] %q; want both values in order", got)
	}
}

func TestMatchHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"source.developers.google.com", "source.developers.google.com", true},
		{"source.developers.google.com", "source.developers.google.com:443", true},
		{"source.developers.google.com", "evil.com", false},
		{"*.sourcemanager.dev", "my-inst-123-git.us-central1.sourcemanager.dev", true},
		{"*.sourcemanager.dev", "sourcemanager.dev", false},
		{"*.sourcemanager.dev", "evilsourcemanager.dev", false},
		{"*.sourcemanager.dev", "a..sourcemanager.dev", false},
		{"*.sourcemanager.dev", "a/b.sourcemanager.dev", false},
		{"127.0.0.1:8443", "127.0.0.1:8443", true},
		{"127.0.0.1:8443", "127.0.0.1:9443", false},
		{"git.example.com", "GIT.EXAMPLE.COM", true},
	}
	for _, tt := range tests {
		if got := MatchHost(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchHost(%q, %q) = %t; want %t", tt.pattern, tt.host, got, tt.want)
		}
	}
}

type fixedProvider struct {
	calls atomic.Int32
	tok   *gcptoken.Token
	err   error
}

func (p *fixedProvider) Token(context.Context) (*gcptoken.Token, error) {
	p.calls.Add(1)
	return p.tok, p.err
}

func TestServe(t *testing.T) {
	t.Parallel()
	expiry := time.Unix(1_900_000_000, 0)
	good := &gcptoken.Token{Value: "ya29.git", Expiry: expiry}
	tests := []struct {
		name      string
		helper    Helper
		tok       *gcptoken.Token
		action    string
		stdin     string
		wantOut   string
		wantErr   string
		wantCalls int32
	}{
		{name: "get csr", action: "get", stdin: "protocol=https\nhost=source.developers.google.com\n\n", wantCalls: 1,
			wantOut: "username=oauth2accesstoken\npassword=ya29.git\npassword_expiry_utc=1900000000\n"},
		{name: "get googlesource", action: "get", stdin: "protocol=https\nhost=chromium.googlesource.com\n", wantCalls: 1,
			wantOut: "username=git-account\npassword=ya29.git\npassword_expiry_utc=1900000000\n"},
		{name: "get custom username", helper: Helper{Username: "sa@p.iam.gserviceaccount.com"}, action: "get",
			stdin: "protocol=https\nhost=x-git.europe-west1.sourcemanager.dev\n", wantCalls: 1,
			wantOut: "username=sa@p.iam.gserviceaccount.com\npassword=ya29.git\npassword_expiry_utc=1900000000\n"},
		{name: "get configured host", helper: Helper{Hosts: []string{"127.0.0.1:8443"}}, action: "get",
			stdin: "protocol=https\nhost=127.0.0.1:8443\n", wantCalls: 1,
			wantOut: "username=oauth2accesstoken\npassword=ya29.git\npassword_expiry_utc=1900000000\n"},
		{name: "no expiry", tok: &gcptoken.Token{Value: "ya29.noexp"}, action: "get",
			stdin: "protocol=https\nhost=source.developers.google.com\n", wantCalls: 1,
			wantOut: "username=oauth2accesstoken\npassword=ya29.noexp\n"},
		{name: "unknown host", action: "get", stdin: "protocol=https\nhost=github.com\n"},
		{name: "http refused", action: "get", stdin: "protocol=http\nhost=source.developers.google.com\n"},
		{name: "no host", action: "get", stdin: "protocol=https\n"},
		{name: "store ignored", action: "store", stdin: "protocol=https\nhost=source.developers.google.com\nusername=u\npassword=p\n"},
		{name: "erase ignored", action: "erase", stdin: "protocol=https\nhost=source.developers.google.com\n"},
		{name: "unknown action ignored", action: "capability", stdin: "garbage"},
		{name: "malformed", action: "get", stdin: "protocol https\n", wantErr: "want key=value"},
		{name: "token with newline", tok: &gcptoken.Token{Value: "a\nusername=evil"}, action: "get",
			stdin: "protocol=https\nhost=source.developers.google.com\n", wantCalls: 1, wantErr: "unusable token"},
		{name: "token with carriage return", tok: &gcptoken.Token{Value: "a\rusername=evil"}, action: "get",
			stdin: "protocol=https\nhost=source.developers.google.com\n", wantCalls: 1, wantErr: "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &fixedProvider{tok: good}
			if tt.tok != nil {
				p.tok = tt.tok
			}
			h := tt.helper
			h.Provider = p
			var out bytes.Buffer
			err := h.Serve(context.Background(), tt.action, strings.NewReader(tt.stdin), &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v; want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.wantOut {
				t.Errorf("got output %q; want %q", out.String(), tt.wantOut)
			}
			if got := p.calls.Load(); got != tt.wantCalls {
				t.Errorf("got %d token calls; want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestServeProviderError(t *testing.T) {
	t.Parallel()
	sentinel := errors.New("refresh token revoked")
	h := &Helper{Provider: &fixedProvider{err: sentinel}}
	var out bytes.Buffer
	err := h.Serve(context.Background(), "get", strings.NewReader("protocol=https\nhost=source.developers.google.com\n"), &out)
	if !errors.Is(err, sentinel) || !strings.Contains(err.Error(), "source.developers.google.com") {
		t.Errorf("got %v; want the provider's error naming the host", err)
	}
	if out.Len() != 0 {
		t.Errorf("got output %q on failure; want none", out.String())
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"protocol=https\nhost=a\n\n", "", "=", "a", "x=y\r\n\r\n", "host=a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		req, err := ParseRequest(strings.NewReader(in))
		if err != nil {
			return
		}
		for k, vs := range req.Attrs {
			if k == "" || strings.ContainsAny(k, "=\n") {
				t.Errorf("accepted key %q", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\n\x00") {
					t.Errorf("accepted value %q", v)
				}
			}
		}
		// Whatever was accepted, serving it never prints a token for a
		// remote outside the allowed set.
		h := &Helper{Provider: &fixedProvider{tok: &gcptoken.Token{Value: "t"}}}
		var out bytes.Buffer
		if err := h.Serve(context.Background(), "get", strings.NewReader(in), &out); err == nil && out.Len() > 0 && !h.Serves(req) {
			t.Errorf("printed a credential for %+v", req)
		}
	})
}

// TestServeErase: erase on a served remote hands the refused password to
// Erase, so that a cache stops serving it; other remotes and a helper
// without Erase are left alone.
func TestServeErase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		stdin     string
		wantCalls []string
	}{
		{name: "refused token", stdin: "protocol=https\nhost=source.developers.google.com\nusername=oauth2accesstoken\npassword=ya29.refused\n",
			wantCalls: []string{"ya29.refused"}},
		{name: "no password", stdin: "protocol=https\nhost=source.developers.google.com\n", wantCalls: []string{""}},
		{name: "other host", stdin: "protocol=https\nhost=github.com\npassword=ghp_x\n"},
		{name: "plain http", stdin: "protocol=http\nhost=source.developers.google.com\npassword=x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls []string
			p := &fixedProvider{tok: &gcptoken.Token{Value: "ya29.git"}}
			h := &Helper{Provider: p, Erase: func(_ context.Context, tok string) error {
				calls = append(calls, tok)
				return nil
			}}
			var out bytes.Buffer
			if err := h.Serve(context.Background(), "erase", strings.NewReader(tt.stdin), &out); err != nil {
				t.Fatal(err)
			}
			if strings.Join(calls, ",") != strings.Join(tt.wantCalls, ",") || len(calls) != len(tt.wantCalls) {
				t.Errorf("Erase got %q; want %q", calls, tt.wantCalls)
			}
			if out.Len() != 0 || p.calls.Load() != 0 {
				t.Errorf("erase printed %q and minted %d tokens; want neither", out.String(), p.calls.Load())
			}
		})
	}
	sentinel := errors.New("cache broken")
	h := &Helper{Provider: &fixedProvider{}, Erase: func(context.Context, string) error { return sentinel }}
	err := h.Serve(context.Background(), "erase", strings.NewReader("protocol=https\nhost=source.developers.google.com\n"), io.Discard)
	if !errors.Is(err, sentinel) {
		t.Errorf("Serve(erase) = %v; want the Erase error", err)
	}
}
