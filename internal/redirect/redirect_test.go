package redirect

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/token", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/done", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/done":
			body, _ := io.ReadAll(r.Body)
			w.Write(body)
		}
	}))
	defer srv.Close()
	c := Guard(&http.Client{})

	tests := []struct {
		path    string
		wantErr string
	}{
		{"/here", ""},
		{"/away", "refused a redirect"},
		{"/loop", "stopped after 10 redirects"},
	}
	for _, tt := range tests {
		resp, err := c.Post(srv.URL+tt.path, "text/plain", strings.NewReader("secret"))
		if tt.wantErr == "" {
			if err != nil {
				t.Fatalf("POST %s: %v", tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "secret" {
				t.Errorf("POST %s: got body %q; want the same-origin redirect followed", tt.path, body)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("POST %s: got error %v; want %q", tt.path, err, tt.wantErr)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other origin got %d requests; want 0", n)
	}
}

func TestGuardKeepsOwnerChoice(t *testing.T) {
	t.Parallel()
	own := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &http.Client{CheckRedirect: own}
	if Guard(c) != c {
		t.Error("Guard replaced a client that has its own CheckRedirect")
	}
	if Guard(nil) != nil {
		t.Error("Guard(nil) is not nil")
	}
	plain := &http.Client{}
	if g := Guard(plain); g == plain || g.CheckRedirect == nil || plain.CheckRedirect != nil {
		t.Error("Guard must return a guarded copy and leave the original alone")
	}
}
