package hostcheck

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestAllowsHost(t *testing.T) {
	t.Parallel()
	g, err := New("metadata.google.internal", "Svc.Example.", "pinned.example:8087", "[fd00::1]:80")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1:8087", true},
		{"127.3.4.5", true},
		{"[::1]:8087", true},
		{"[::1]", true},
		{"10.1.2.3:8087", true}, // a node address behind hostPort: a literal, not rebindable
		{"localhost:8087", true},
		{"LOCALHOST.", true},
		{"", true},
		{"metadata.google.internal", true},
		{"metadata.google.internal.:80", true}, // Node's fully qualified name
		{"svc.example:1234", true},
		{"pinned.example:8087", true},
		{"pinned.example:8088", false},
		{"pinned.example", false},
		{"[fd00::1]:80", true},
		{"attacker.example:8087", false},
		{"attacker.example", false},
		{"127.0.0.1.nip.io:8087", false},
		{"localhost.attacker.example", false},
		{"sub.localhost", false},
		{"0.0.0.0:8087", false}, // browsers send 0.0.0.0 to the local machine
		{"[::]:8087", false},
	}
	for _, tt := range tests {
		if got := g.AllowsHost(tt.host); got != tt.want {
			t.Errorf("AllowsHost(%q) = %v; want %v", tt.host, got, tt.want)
		}
	}
	var none *Guard
	if none.AllowsHost("svc.example") || !none.AllowsHost("127.0.0.1") {
		t.Errorf("a nil Guard must accept only literals and localhost")
	}
}

func TestNewRefusesMalformedNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "http://x.example", "x.example/path", "x.example:0", "x.example:http", "a b", "*", "user@x.example", "[::1"} {
		if _, err := New(name); err == nil || !strings.Contains(err.Error(), "host") {
			t.Errorf("New(%q) = %v; want an error about the host name", name, err)
		}
	}
}

func TestCrossSite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		host          string
		site, origin  string
		twoOrigins    bool
		wantRefused   bool
		wantInMessage string
	}{
		{name: "no browser headers (curl, client libraries)", host: "127.0.0.1:8080"},
		{name: "typed into the address bar", host: "127.0.0.1:8080", site: "none"},
		{name: "same origin", host: "127.0.0.1:8080", site: "same-origin", origin: "http://127.0.0.1:8080"},
		{name: "cross-site", host: "127.0.0.1:8080", site: "cross-site", wantRefused: true, wantInMessage: `Sec-Fetch-Site: "cross-site"`},
		{name: "another port of localhost", host: "localhost:8080", site: "same-site", wantRefused: true, wantInMessage: "same-site"},
		{name: "old browser, same origin", host: "localhost:8080", origin: "http://LOCALHOST:8080"},
		{name: "old browser, foreign origin", host: "127.0.0.1:8080", origin: "https://attacker.example", wantRefused: true, wantInMessage: `Origin "https://attacker.example"`},
		{name: "old browser, other port", host: "127.0.0.1:8080", origin: "http://127.0.0.1:3000", wantRefused: true},
		{name: "opaque origin", host: "127.0.0.1:8080", origin: "null", wantRefused: true},
		{name: "two origins", host: "127.0.0.1:8080", origin: "http://127.0.0.1:8080", twoOrigins: true, wantRefused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://"+tt.host+"/", nil)
			if tt.site != "" {
				r.Header.Set("Sec-Fetch-Site", tt.site)
			}
			if tt.origin != "" {
				r.Header.Add("Origin", tt.origin)
			}
			if tt.twoOrigins {
				r.Header.Add("Origin", "https://attacker.example")
			}
			err := CrossSite(r, "--allow-cross-site")
			if (err != nil) != tt.wantRefused {
				t.Fatalf("CrossSite = %v; want refused %v", err, tt.wantRefused)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrCrossSite) || !strings.Contains(err.Error(), tt.wantInMessage) || !strings.Contains(err.Error(), "--allow-cross-site") {
				t.Errorf("CrossSite = %q; want ErrCrossSite naming %q and the flag", err, tt.wantInMessage)
			}
		})
	}
}

func TestHandlerRefusesForeignHost(t *testing.T) {
	t.Parallel()
	g, _ := New()
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("served")) }), "--allow-host")
	for host, want := range map[string]int{"127.0.0.1:1": 200, "attacker.example:1": StatusForeignHost} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil))
		body := w.Body.String()
		if w.Code != want {
			t.Errorf("Host %s: got %d %q; want %d", host, w.Code, body, want)
		}
		if want != 200 && (strings.Count(body, "\n") != 1 || !strings.Contains(body, "--allow-host") || strings.Contains(body, "served")) {
			t.Errorf("Host %s: got body %q; want one line naming --allow-host", host, body)
		}
	}
}

func TestListenNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		listen  string
		extra   []string
		want    []string
		wantErr bool
	}{
		{"127.0.0.1:8087", nil, nil, false},
		{"[::1]:8087", []string{"a.test"}, []string{"a.test"}, false},
		{"myhost.example:8087", []string{"a.test:80"}, []string{"a.test:80", "myhost.example"}, false},
		{":8087", nil, nil, false},
		{"127.0.0.1:8087", []string{"http://a.test/"}, nil, true},
	}
	for _, tt := range tests {
		got, err := ListenNames(tt.listen, tt.extra)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ListenNames(%q, %q) = %q, %v; want %q (error %v)", tt.listen, tt.extra, got, err, tt.want, tt.wantErr)
		}
	}
}
