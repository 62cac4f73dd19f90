package emulator

import (
	"net/http"
	"testing"
)

// TestSecurityDNSRebinding: a web page whose DNS name rebinds to the
// emulator's address sends its requests with its own name as Host; the
// fake must refuse them (421) instead of handing the page tokens, while
// addresses, localhost and AllowedHosts pass.
func TestSecurityDNSRebinding(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{AllowedHosts: []string{"fake.test"}})
	serve(t, em)
	u := em.Info().URL + "/.well-known/openid-configuration"
	tests := []struct {
		host string
		want int
	}{
		{"", http.StatusOK},
		{"localhost", http.StatusOK},
		{"fake.test", http.StatusOK},
		{"attacker.example", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		if status, body := get(t, plainClient, u, tt.host); status != tt.want {
			t.Errorf("Host %q: got %d %q; want %d", tt.host, status, body, tt.want)
		}
	}
}
