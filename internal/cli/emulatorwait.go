package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// `gcptoken emulator wait`: a shell that starts the emulator in the
// background (`gcptoken emulator … &`) runs its next line at once, before
// the emulator has written env.sh; wait returns when the emulator of a
// state directory answers, so that the next line can source env.sh.

func newEmulatorWaitCmd(app *App) *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "wait --state-dir DIR",
		Short: "Wait until the emulator of a state directory answers (after starting it in the background)",
		Long: `Wait until the emulator started with --state-dir DIR has written its
files and answers with the keys it wrote there, then print its URL: a
script (or a pasted block) that starts the emulator in the background
runs its next line at once, before env.sh exists. Gives up after
--timeout (30s by default).`,
		Example: `  gcptoken emulator --state-dir ./fake-google &
  gcptoken emulator wait --state-dir ./fake-google
  . ./fake-google/env.sh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stateDir == "" {
				return usagef("emulator wait: --state-dir is required: the --state-dir the emulator was started with")
			}
			u, err := waitForEmulator(cmd.Context(), app, stateDir)
			if err != nil {
				return err
			}
			env := filepath.Join(stateDir, "env.sh")
			if !filepath.IsAbs(env) && !strings.HasPrefix(env, ".") {
				env = "." + string(filepath.Separator) + env
			}
			_, err = fmt.Fprintf(app.Out, "Fake Google is up at %s; point tools at it with: . %s\n", u, env)
			return err
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "the emulator's state `DIR` (required)")
	bindTimeout(cmd, app, 30*time.Second)
	return cmd
}

// emulatorURLLine is env.sh's line naming the emulator's URL.
var emulatorURLLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^export GCPTOKEN_EMULATOR_URL='(http://[^'\s]+)'$`)
})

// waitForEmulator polls until the emulator of dir answers, and returns its
// URL. On ctx's end it returns the last reason it was not ready.
func waitForEmulator(ctx context.Context, app *App, dir string) (string, error) {
	app.progress.phase("the emulator of "+dir, nil, 1)
	client := app.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error // why the emulator was not ready, from an attempt ctx did not cut short
	for {
		u, err := emulatorReady(ctx, client, dir)
		if err == nil {
			return u, nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", ctx.Err() // interrupted
			}
			return "", &timeoutFailure{err: last, msg: fmt.Sprintf("emulator wait: timed out after %s (--timeout): %v; is `gcptoken emulator --state-dir %s` running? (its output says why it stopped)",
				app.timeout, last, dir)}
		case <-tick.C:
		}
	}
}

// emulatorReady reports whether the emulator named by dir's env.sh answers
// with the key of dir's service-account.json: that emulator, not an older
// one or another directory's on the same port.
func emulatorReady(ctx context.Context, client *http.Client, dir string) (string, error) {
	env, err := fileutil.ReadFile(ctx, filepath.Join(dir, "env.sh"), 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		return "", errors.New("no env.sh in the state directory yet")
	}
	if err != nil {
		return "", err
	}
	m := emulatorURLLine().FindSubmatch(env)
	if m == nil {
		return "", errors.New("env.sh names no GCPTOKEN_EMULATOR_URL")
	}
	base := string(m[1])
	keyFile, err := fileutil.ReadFile(ctx, filepath.Join(dir, "service-account.json"), 64<<10)
	if err != nil {
		return "", fmt.Errorf("read service-account.json: %w", err)
	}
	var key struct {
		Email string `json:"client_email"`
		KeyID string `json:"private_key_id"`
	}
	if err := json.Unmarshal(keyFile, &key); err != nil || key.Email == "" {
		return "", errors.New("service-account.json is not written yet")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/service_accounts/v1/metadata/x509/"+url.PathEscape(key.Email), nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s does not answer yet: %w", base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	var certs map[string]string
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&certs); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answers HTTP %d, not as the emulator", base, resp.StatusCode)
	}
	if _, ok := certs[key.KeyID]; !ok {
		return "", fmt.Errorf("%s is another emulator (it does not hold %s's key)", base, dir)
	}
	return base, nil
}
