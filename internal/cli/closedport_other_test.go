//go:build !unix

package cli

import (
	"net"
	"testing"
)

// closedPort returns a loopback URL on which nothing listens (a closed
// listener's port; another process could take it meanwhile).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
