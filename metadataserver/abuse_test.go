package metadataserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveForTest runs s.Serve on a loopback listener until the test ends.
func serveForTest(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func healthy(t *testing.T, addr string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+v1Path+"project/project-id", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("server no longer answers: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != testProject {
		t.Fatalf("got %d %q after the abuse; want 200 %q", res.StatusCode, body, testProject)
	}
}

func TestServeRefusesHugeHeaders(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	addr := serveForTest(t, s)
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+v1Path+"project/project-id", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	req.Header.Set("X-Padding", strings.Repeat("a", 2*maxHeaderBytes))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("got status %d for %d KiB of headers; want 431", res.StatusCode, 2*maxHeaderBytes>>10)
	}
	healthy(t, addr)
}

// A slowloris client trickles its request headers to hold a connection
// open; the server must drop it after the header timeout and keep serving
// everyone else meanwhile.
func TestServeDropsSlowlorisClients(t *testing.T) {
	t.Parallel()
	s, _, _ := newTestServer(t, nil)
	addr := serveForTest(t, s)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET "+v1Path+"project/project-id HTTP/1.1\r\nHost: x\r\nMetadata-Flavor: Go"); err != nil {
		t.Fatal(err)
	}
	healthy(t, addr)

	start := time.Now()
	conn.SetReadDeadline(start.Add(readHeaderTimeout + 5*time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a half-sent request open for %s; want it dropped after %s", time.Since(start), readHeaderTimeout)
	}
	healthy(t, addr)
}
