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
	name, args, err := browserCommand(runtime.GOOS, os.Getenv, url)
	if err != nil {
		return err
	}
	// Not CommandContext: the browser must outlive the sign-in.
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	go cmd.Wait() // reap it
	return nil
}

// browserCommand is the program that opens url on goos. On Windows it is
// rundll32's URL handler (as in github.com/pkg/browser), which gets the
// URL as one argument: "cmd /c start URL" would hand it to cmd.exe's
// parser, which splits it at every & of the query string. gcloud's Python
// opens it with ShellExecute, which is what the handler calls.
func browserCommand(goos string, getenv func(string) string, url string) (name string, args []string, err error) {
	switch goos {
	case "darwin":
		return "open", []string{url}, nil
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", url}, nil
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return "", nil, errors.New("no graphical display (DISPLAY and WAYLAND_DISPLAY are unset)")
	}
	return "xdg-open", []string{url}, nil
}
