package oauthflow

import (
	"strings"
	"testing"
)

// TestBrowserCommand: the opener on each desktop gets the consent URL,
// query string and all, as one argument; a Unix machine without a display
// gets an error instead of a text browser.
func TestBrowserCommand(t *testing.T) {
	t.Parallel()
	const url = "https://accounts.google.com/o/oauth2/auth?client_id=x&redirect_uri=http%3A%2F%2F127.0.0.1%3A8085%2F&state=s"
	display := func(k string) string {
		if k == "DISPLAY" {
			return ":0"
		}
		return ""
	}
	tests := []struct {
		goos   string
		getenv func(string) string
		want   string
	}{
		{"darwin", func(string) string { return "" }, "open " + url},
		{"windows", func(string) string { return "" }, "rundll32 url.dll,FileProtocolHandler " + url},
		{"linux", display, "xdg-open " + url},
		{"freebsd", display, "xdg-open " + url},
	}
	for _, tt := range tests {
		name, args, err := browserCommand(tt.goos, tt.getenv, url)
		if got := strings.Join(append([]string{name}, args...), " "); err != nil || got != tt.want || args[len(args)-1] != url {
			t.Errorf("%s: got %q, %v; want %q with the URL as the last argument", tt.goos, got, err, tt.want)
		}
	}
	if _, _, err := browserCommand("linux", func(string) string { return "" }, url); err == nil {
		t.Error("linux without DISPLAY or WAYLAND_DISPLAY: got no error")
	}
}
