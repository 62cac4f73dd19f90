package authproxy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

func TestTokenHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		header     string
		client     map[string]string
		wantAuth   string // "" means absent
		wantServer string
	}{
		{"authorization, client sends none", "", nil, "Bearer secret-token", ""},
		{"authorization replaces the client's", "authorization",
			map[string]string{"Authorization": "Bearer client-token"}, "Bearer secret-token", ""},
		{"authorization drops client X-Serverless-Authorization", HeaderAuthorization,
			map[string]string{"X-Serverless-Authorization": "Bearer forged"}, "Bearer secret-token", ""},
		{"serverless, client sends none", "x-serverless-authorization", nil, "", "Bearer secret-token"},
		{"serverless keeps the client's Authorization for the app", HeaderServerlessAuthorization,
			map[string]string{"Authorization": "Basic YXBwOnVzZXI="}, "Basic YXBwOnVzZXI=", "Bearer secret-token"},
		{"serverless replaces the client's X-Serverless-Authorization", HeaderServerlessAuthorization,
			map[string]string{"X-Serverless-Authorization": "Bearer forged"}, "", "Bearer secret-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			up := startUpstream(t, rec)
			p := startProxy(t, up, func(o *Options) { o.Header = tt.header })
			resp, body := get(t, nil, p.URL+"/hello?x=1", tt.client)
			if resp.StatusCode != http.StatusOK || body != "ok" {
				t.Fatalf("got %d %q; want 200 \"ok\"", resp.StatusCode, body)
			}
			got := rec.last(t)
			if v := got.Header.Values("Authorization"); tt.wantAuth == "" && len(v) != 0 || tt.wantAuth != "" && (len(v) != 1 || v[0] != tt.wantAuth) {
				t.Errorf("got upstream Authorization = %q; want %q", v, tt.wantAuth)
			}
			if v := got.Header.Values("X-Serverless-Authorization"); tt.wantServer == "" && len(v) != 0 || tt.wantServer != "" && (len(v) != 1 || v[0] != tt.wantServer) {
				t.Errorf("got upstream X-Serverless-Authorization = %q; want %q", v, tt.wantServer)
			}
		})
	}
}

func TestQuotaProjectHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		quota  string
		client map[string]string
		want   string
	}{
		{"none configured", "", nil, ""},
		{"added", "billing-project", nil, "billing-project"},
		{"client's own wins", "billing-project", map[string]string{"X-Goog-User-Project": "mine"}, "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			up := startUpstream(t, rec)
			p := startProxy(t, up, func(o *Options) { o.QuotaProject = tt.quota })
			resp, _ := get(t, nil, p.URL+"/v1/x", tt.client)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d; want 200", resp.StatusCode)
			}
			if got := rec.last(t).Header.Get("X-Goog-User-Project"); got != tt.want {
				t.Errorf("got X-Goog-User-Project = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestForwardedHeadersHostAndPath(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	up := startUpstream(t, rec)
	target := *up
	target.Path = "/base/"
	p := startProxy(t, &target, nil)
	resp, _ := get(t, nil, p.URL+"/a/b?q=1&r=two", map[string]string{
		"X-Forwarded-For":   "9.9.9.9",
		"X-Forwarded-Host":  "evil.example",
		"X-Forwarded-Proto": "https",
		"Forwarded":         "for=9.9.9.9",
		"User-Agent":        "my-client/1.0",
		"X-Custom":          "kept",
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d; want 200", resp.StatusCode)
	}
	got := rec.last(t)
	if got.Host != up.Host {
		t.Errorf("got upstream Host = %q; want the target's %q", got.Host, up.Host)
	}
	if got.Path != "/base/a/b" || got.RawQuery != "q=1&r=two" {
		t.Errorf("got upstream path %q query %q; want /base/a/b and q=1&r=two", got.Path, got.RawQuery)
	}
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded"} {
		if v, ok := got.Header[h]; ok {
			t.Errorf("upstream got %s = %q; want it absent", h, v)
		}
	}
	if v := got.Header.Get("User-Agent"); v != "my-client/1.0" {
		t.Errorf("got User-Agent = %q; want the client's", v)
	}
	if v := got.Header.Get("X-Custom"); v != "kept" {
		t.Errorf("got X-Custom = %q; want kept", v)
	}
}

func TestLocationRewrite(t *testing.T) {
	t.Parallel()
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("loc"))
		w.WriteHeader(http.StatusFound)
	}}
	up := startUpstream(t, rec)
	plain := startProxy(t, up, nil)
	withPrefix := *up
	withPrefix.Path = "/app"
	prefixed := startProxy(t, &withPrefix, nil)
	upBase := up.String()

	tests := []struct {
		name  string
		proxy *running
		loc   string
		want  string // with PROXY replaced by the proxy's host
	}{
		{"absolute on target", plain, upBase + "/next?a=1", "http://PROXY/next?a=1"},
		{"host case-insensitive", plain, "http://" + strings.ToUpper(up.Host) + "/n", "http://PROXY/n"},
		{"scheme-relative on target", plain, "//" + up.Host + "/n", "http://PROXY/n"},
		{"other host untouched", plain, "https://accounts.google.com/o/oauth2/auth?x=1", "https://accounts.google.com/o/oauth2/auth?x=1"},
		{"absolute path untouched", plain, "/login", "/login"},
		{"relative untouched", plain, "next", "next"},
		{"prefix stripped from absolute URL", prefixed, upBase + "/app/login?x=1", "http://PROXY/login?x=1"},
		{"prefix root", prefixed, upBase + "/app", "http://PROXY/"},
		{"prefix stripped from absolute path", prefixed, "/app/next", "/next"},
		{"outside the prefix untouched", prefixed, upBase + "/other", upBase + "/other"},
		{"absolute path outside prefix untouched", prefixed, "/other", "/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, _ := get(t, nil, tt.proxy.URL+"/x?loc="+url.QueryEscape(tt.loc), nil)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("got status %d; want 302", resp.StatusCode)
			}
			want := strings.ReplaceAll(tt.want, "PROXY", tt.proxy.Host)
			if got := resp.Header.Get("Location"); got != want {
				t.Errorf("got Location = %q; want %q", got, want)
			}
		})
	}
}

func TestStreaming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ctype string
	}{
		{"event stream", "text/event-stream"},
		{"unknown length", "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				_, _ = io.WriteString(w, "data: first\n\n")
				http.NewResponseController(w).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, "data: second\n\n")
			}}
			up := startUpstream(t, rec)
			p := startProxy(t, up, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/events", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			// The handler is still running (blocked on release): the first
			// event must arrive anyway.
			line, err := br.ReadString('\n')
			if err != nil || line != "data: first\n" {
				t.Fatalf("got first line %q, %v; want \"data: first\\n\" before the handler ends", line, err)
			}
			close(release)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: second\n\n" {
				t.Errorf("got rest %q, %v", rest, err)
			}
		})
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		_ = brw.Flush()
		// Echo lines back, upper-cased, until the client closes.
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = brw.WriteString(strings.ToUpper(line))
			_ = brw.Flush()
		}
	}}
	up := startUpstream(t, rec)
	p := startProxy(t, up, nil)

	conn, err := net.DialTimeout("tcp", p.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", p.Host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("got %s, Upgrade %q; want 101 websocket", resp.Status, resp.Header.Get("Upgrade"))
	}
	for _, msg := range []string{"hello\n", "second message\n"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != strings.ToUpper(msg) {
			t.Fatalf("echo of %q: got %q, %v", msg, got, err)
		}
	}
	if got := rec.last(t).Header.Get("Authorization"); got != "Bearer secret-token" {
		t.Errorf("upgrade request reached upstream with Authorization = %q; want the token", got)
	}

	// Shutting down lets the open WebSocket finish: it keeps working
	// until the client closes it, and then Serve returns.
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", p.Host, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if _, err := io.WriteString(conn, "during shutdown\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := br.ReadString('\n'); err != nil || got != "DURING SHUTDOWN\n" {
		t.Fatalf("echo during shutdown: got %q, %v", got, err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) with a WebSocket open", err)
	case <-time.After(50 * time.Millisecond):
	}
	conn.Close()
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestShutdownCutsWebSocketAfterGrace(t *testing.T) {
	t.Parallel()
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, brw) // never answers, never closes
	}}
	up := startUpstream(t, rec)
	p := startProxy(t, up, func(o *Options) { o.ShutdownTimeout = 100 * time.Millisecond })
	conn, err := net.DialTimeout("tcp", p.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v, %v; want 101", resp, err)
	}
	start := time.Now()
	if err := p.stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("read from the cut WebSocket: got %v; want EOF", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s with a 100ms grace period", d)
	}
}

func TestH2C(t *testing.T) {
	t.Parallel()
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		// gRPC-style: a streamed body and a trailer.
		w.Header().Set("Trailer", "Grpc-Status")
		w.Header().Set("Content-Type", "application/grpc")
		_, _ = io.WriteString(w, "proto="+r.Proto)
		w.Header().Set("Grpc-Status", "0")
	}}
	upSrv := httptest.NewUnstartedServer(rec)
	upSrv.Config.Protocols = new(http.Protocols)
	upSrv.Config.Protocols.SetHTTP1(true)
	upSrv.Config.Protocols.SetUnencryptedHTTP2(true)
	upSrv.Start()
	t.Cleanup(upSrv.Close)
	up, _ := url.Parse(upSrv.URL)
	p := startProxy(t, up, nil)

	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	tests := []struct {
		name      string
		client    *http.Client
		wantProto string
	}{
		{"h2c client, h2c upstream", &http.Client{Transport: h2c, Timeout: 10 * time.Second}, "HTTP/2.0"},
		{"HTTP/1.1 client, HTTP/1.1 upstream", &http.Client{Timeout: 10 * time.Second}, "HTTP/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Post(p.URL+"/pkg.Service/Method", "application/grpc", strings.NewReader("request"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Proto != tt.wantProto {
				t.Errorf("client↔proxy protocol = %s; want %s", resp.Proto, tt.wantProto)
			}
			if string(body) != "proto="+tt.wantProto {
				t.Errorf("got body %q; want the upstream to have seen %s", body, tt.wantProto)
			}
			if got := resp.Trailer.Get("Grpc-Status"); got != "0" {
				t.Errorf("got trailer Grpc-Status = %q; want 0", got)
			}
			if got := rec.last(t).Header.Get("Authorization"); got != "Bearer secret-token" {
				t.Errorf("got Authorization = %q upstream; want the token", got)
			}
		})
	}
}

func TestH2CClientHTTP1Upstream(t *testing.T) {
	t.Parallel()
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Proto+" "+string(b))
	}}
	up := startUpstream(t, rec) // HTTP/1.1 only
	p := startProxy(t, up, nil)
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	client := &http.Client{Transport: h2c, Timeout: 10 * time.Second}
	resp, err := client.Post(p.URL+"/x", "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || string(got) != "HTTP/1.1 body" {
		t.Errorf("got %s %d %q; want HTTP/2.0 200 \"HTTP/1.1 body\"", resp.Proto, resp.StatusCode, got)
	}
}

func TestIsGRPC(t *testing.T) {
	t.Parallel()
	for ctype, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc+json": true,
		"application/grpc; charset=utf-8": true, "application/grpc-web": false, "application/grpc-web+proto": false,
		"application/json": false, "": false,
	} {
		if got := isGRPC(ctype); got != want {
			t.Errorf("isGRPC(%q) = %v; want %v", ctype, got, want)
		}
	}
}

func TestTokenFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		value      string // token value when err is nil
		wantStatus int
		wantRetry  bool
		wantBody   string
	}{
		{"refused", gcptoken.NewResponseError("fetch ID token", "https://oauth2.example/token", 400,
			[]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)),
			"", http.StatusBadGateway, false, "invalid_grant"},
		{"unreachable", gcptoken.NewTransportError("fetch ID token", "https://oauth2.example/token", syscall.ECONNREFUSED),
			"", http.StatusServiceUnavailable, true, "connection refused"},
		{"server error", gcptoken.NewResponseError("fetch ID token", "https://oauth2.example/token", 503, []byte("down")),
			"", http.StatusServiceUnavailable, true, "HTTP 503"},
		{"empty token", nil, "", http.StatusBadGateway, false, "empty token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			up := startUpstream(t, rec)
			src := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
				if tt.err != nil {
					return nil, tt.err
				}
				return &gcptoken.Token{Value: tt.value, Expiry: time.Now().Add(time.Hour)}, nil
			})
			p := startProxy(t, up, func(o *Options) {
				o.Tokens, _ = gcptoken.NewCachedProvider(src, &gcptoken.CacheOptions{MaxAttempts: 1}) // valid options
			})
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				req, _ := http.NewRequest(method, p.URL+"/x", strings.NewReader("payload"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body := string(b)
				if resp.StatusCode != tt.wantStatus {
					t.Errorf("%s: got status %d; want %d", method, resp.StatusCode, tt.wantStatus)
				}
				if got := resp.Header.Get("Retry-After") != ""; got != tt.wantRetry {
					t.Errorf("%s: Retry-After present = %v; want %v", method, got, tt.wantRetry)
				}
				oneLineBody(t, body)
				if !strings.Contains(body, "not forwarded") || !strings.Contains(body, tt.wantBody) {
					t.Errorf("%s: got body %q; want it to say the request was not forwarded, and %q", method, body, tt.wantBody)
				}
			}
			if n := rec.hits.Load(); n != 0 {
				t.Errorf("upstream got %d requests without a token; want 0", n)
			}
		})
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := startProxy(t, &url.URL{Scheme: "http", Host: addr}, nil)
	resp, body := get(t, nil, p.URL+"/x?secret=s3cr3t", nil)
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("got status %d; want 502", resp.StatusCode)
	}
	oneLineBody(t, body)
	if !strings.Contains(body, "unreachable") || !strings.Contains(body, addr) || strings.Contains(body, "s3cr3t") {
		t.Errorf("got body %q; want it to name %s as unreachable, without the query", body, addr)
	}
}

func TestBackgroundRefresh(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	src := &countingSource{now: clock.Now}
	rec := &recorder{}
	up := startUpstream(t, rec)
	p := startProxy(t, up, func(o *Options) {
		o.Tokens = src // New wraps it in the cache, with o.Now
		o.Now = clock.Now
		o.RefreshInterval = 2 * time.Millisecond
	})
	waitFor(t, "the first token", func() bool { return src.calls.Load() == 1 })

	// Hours of clock time, in steps: each token becomes stale (within the
	// cache's 5-minute RefreshBefore) and the refresher renews it before it
	// expires. No request ever waits for a token or gets an expired one.
	for n := int64(1); n <= 4; n++ {
		resp, _ := get(t, nil, p.URL+"/", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("step %d: got status %d", n, resp.StatusCode)
		}
		if got, want := rec.last(t).Header.Get("Authorization"), "Bearer tok-"+fmt.Sprint(n); got != want {
			t.Fatalf("step %d: got %q upstream; want %q", n, got, want)
		}
		if got := src.calls.Load(); got != n {
			t.Fatalf("step %d: the source was called %d times; want %d (requests must not fetch)", n, got, n)
		}
		clock.Advance(57 * time.Minute) // into the stale window of tok-n
		waitFor(t, "a background refresh", func() bool { return src.calls.Load() == n+1 })
		clock.Advance(4 * time.Minute) // tok-n has expired now
	}
	// The refresher reports the renewed token's expiry on its next tick.
	waitFor(t, "the expiry gauge to show the current token", func() bool {
		return scrape(t, p.Proxy)["gcptoken_authproxy_token_expiry_timestamp_seconds"] > float64(clock.Now().Unix())
	})
}

// scrape reads the proxy's metrics into "name{labels}" → value. That
// Prometheus's own parser accepts them is checked in
// crosscheck/prometheus_test.go, which keeps that parser out of this
// module's dependencies.
func scrape(t *testing.T, p *Proxy) map[string]float64 {
	t.Helper()
	rr := httptest.NewRecorder()
	p.OpsHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	text := rr.Body.String()
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		var f float64
		if _, err := fmt.Sscan(val, &f); err == nil {
			out[name] = f
		}
	}
	return out
}

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	up := startUpstream(t, rec)
	p := startProxy(t, up, nil)

	// The proxied listener forwards /healthz and /metrics to the app.
	for _, path := range []string{"/healthz", "/metrics", "/readyz"} {
		if resp, body := get(t, nil, p.URL+path, nil); resp.StatusCode != http.StatusOK || body != "ok" {
			t.Errorf("GET %s through the proxy: got %d %q; want the app's answer", path, resp.StatusCode, body)
		}
		if got := rec.last(t).Path; got != path {
			t.Errorf("upstream got path %q; want %q", got, path)
		}
	}
	req, _ := http.NewRequest("PROPFIND", p.URL+"/dav", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.ServeOps(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeOps: %v", err)
		}
	}()
	ops := "http://" + ln.Addr().String()
	if resp, body := get(t, nil, ops+"/healthz", nil); resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz: got %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, nil, ops+"/readyz", nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "ok: token valid until") {
		t.Errorf("GET /readyz: got %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, nil, ops+"/app", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /app on the ops listener: got %d; want 404", resp.StatusCode)
	}
	resp, _ := get(t, nil, ops+"/metrics", nil)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("metrics Content-Type = %q", ct)
	}
	m := scrape(t, p.Proxy)
	for name, want := range map[string]float64{
		`gcptoken_authproxy_requests_total{method="GET",code="2xx"}`:            3,
		`gcptoken_authproxy_requests_total{method="other",code="2xx"}`:          1,
		`gcptoken_authproxy_requests_total{method="GET",code="5xx"}`:            0,
		`gcptoken_authproxy_token_lookups_total{result="ok"}`:                   4,
		`gcptoken_authproxy_upstream_duration_seconds_count{result="response"}`: 4,
		`gcptoken_authproxy_requests_in_flight`:                                 0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("metric %s = %v (present %v); want %v", name, got, ok, want)
		}
	}
	if m[`gcptoken_authproxy_token_refreshes_total{result="ok"}`] < 1 {
		t.Error("no background refresh recorded")
	}
	for name := range m {
		if strings.Contains(name, "/") || strings.Contains(name, "secret") {
			t.Errorf("metric %s has an unbounded or secret label", name)
		}
	}
}

func TestReadyzFailing(t *testing.T) {
	t.Parallel()
	src := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		return nil, gcptoken.NewResponseError("fetch ID token", "https://oauth2.example/token", 401, []byte(`{"error":"invalid_client"}`))
	})
	p, err := New(&Options{Target: &url.URL{Scheme: "https", Host: "svc.example"}, Tokens: src})
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	p.OpsHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rr.Code != http.StatusServiceUnavailable || !strings.Contains(rr.Body.String(), "invalid_client") {
		t.Errorf("got %d %q; want 503 naming invalid_client", rr.Code, rr.Body.String())
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	rec := &recorder{}
	up := startUpstream(t, rec)
	p := startProxy(t, up, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	resp, _ := get(t, nil, p.URL+"/path/x?api_key=querysecret", map[string]string{"Authorization": "Bearer clientsecret"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d", resp.StatusCode)
	}
	waitFor(t, "the access log line", func() bool { return strings.Contains(logs.String(), `"msg":"request"`) })
	var line struct {
		Method, Path, Proto, Peer string
		Status                    int
	}
	for l := range strings.Lines(logs.String()) {
		if strings.Contains(l, `"msg":"request"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line.Method != "GET" || line.Path != "/path/x" || line.Status != 200 || line.Proto != "HTTP/1.1" || line.Peer == "" {
		t.Errorf("got access log %+v", line)
	}
	for _, secret := range []string{"querysecret", "clientsecret", "secret-token"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, logs.String())
		}
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	rec := &recorder{handle: func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	}}
	up := startUpstream(t, rec)
	p := startProxy(t, up, nil)

	type result struct {
		status int
		body   string
		err    error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get(p.URL + "/slow")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()

	// Serve waits for the in-flight request and stops accepting new ones.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", p.Host, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	r := <-resc
	if r.err != nil || r.status != http.StatusOK || r.body != "finished" {
		t.Errorf("in-flight request: got %d %q, %v; want 200 \"finished\"", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	good := &url.URL{Scheme: "https", Host: "svc-abc-uc.a.run.app"}
	tests := []struct {
		name string
		opts *Options
		want string
	}{
		{"nil", nil, "Options are required"},
		{"no target", &Options{Tokens: staticTokens}, "Target is required"},
		{"relative target", &Options{Target: &url.URL{Path: "/x"}, Tokens: staticTokens}, "scheme"},
		{"ftp target", &Options{Target: &url.URL{Scheme: "ftp", Host: "h"}, Tokens: staticTokens}, "scheme"},
		{"no host", &Options{Target: &url.URL{Scheme: "https"}, Tokens: staticTokens}, "no host"},
		{"user info", &Options{Target: &url.URL{Scheme: "https", Host: "h", User: url.UserPassword("u", "p")}, Tokens: staticTokens}, "user info"},
		{"no tokens", &Options{Target: good}, "Tokens is required"},
		{"bad header", &Options{Target: good, Tokens: staticTokens, Header: "Proxy-Authorization"}, "Header"},
		{"negative interval", &Options{Target: good, Tokens: staticTokens, RefreshInterval: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v; want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Errorf("error %v leaks the password", err)
			}
		})
	}
}

func TestClientCanceledWhileWaitingForToken(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	src := gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return nil, errors.New("never")
	})
	rec := &recorder{}
	up := startUpstream(t, rec)
	p, err := New(&Options{Target: up, Tokens: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/x", nil).WithContext(ctx)
	rr := httptest.NewRecorder()
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	p.ServeHTTP(rr, req)
	if rec.hits.Load() != 0 {
		t.Error("request forwarded without a token")
	}
	if m := scrape(t, p); m[`gcptoken_authproxy_token_lookups_total{result="canceled"}`] != 1 ||
		m[`gcptoken_authproxy_requests_total{method="GET",code="4xx"}`] != 1 {
		t.Errorf("a client that left should count as canceled and 499 (4xx)")
	}
}
