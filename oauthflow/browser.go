package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// OpenSystemBrowser opens url in the user's default browser: xdg-open on
// Linux and the BSDs, open on macOS, rundll32's URL handler on Windows. It
// starts the opener without waiting for the browser, and fails early on a
// Unix machine without a display (an SSH session), where xdg-open would
// fall back to a text browser in the same terminal.
func OpenSystemBrowser(_ context.Context, url string) error {
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name, args = "open", []string{url}
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", url}
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("no graphical display (DISPLAY and WAYLAND_DISPLAY are unset)")
		}
		name, args = "xdg-open", []string{url}
	}
	// Not CommandContext: the browser must outlive the sign-in.
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	go cmd.Wait() // reap it
	return nil
}
