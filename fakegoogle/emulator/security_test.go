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

// TestSecurityConsoleDNSRebinding: a web page whose DNS name rebinds to
// the emulator's address could read the console (every request, every
// identity) and post its forms from its own origin; the console sits
// behind the fake's host check, so the page's name gets 421.
func TestSecurityConsoleDNSRebinding(t *testing.T) {
	t.Parallel()
	em := newTest(t, Options{})
	serve(t, em)
	for host, want := range map[string]int{"attacker.example": http.StatusMisdirectedRequest, "localhost": http.StatusOK} {
		if status, _ := get(t, plainClient, em.Info().ConsoleURL, host); status != want {
			t.Errorf("console with Host %q: got %d; want %d", host, status, want)
		}
	}
}
