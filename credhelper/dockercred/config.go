package dockercred

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/gcptoken/gcptoken/credhelper/internal/toolconfig"
)

// Setting docker up to use the helper: docker's config.json and how docker
// finds a helper program live here beside the protocol; the gcptoken CLI
// decides what to set up and asks a HelperConfig to do it.

const (
	// HelperName is the helper's name in credHelpers: docker runs the
	// program docker-credential-<HelperName> (HelperProgram).
	HelperName = "gcptoken"
	// HelperProgram is the program docker runs for HelperName.
	HelperProgram = "docker-credential-" + HelperName
)

// DefaultRegistries are the registries a configure command sets up when
// told none: the ones `gcloud auth configure-docker` sets up. Artifact
// Registry hosts are per location; they must be named.
var DefaultRegistries = []string{"gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io", "staging-k8s.gcr.io", "marketplace.gcr.io"}

// HelperConfig is docker's client configuration, as far as credential
// helpers go. ConfigFile is config.json on disk; FakeHelperConfig keeps it
// in memory, for tests of code that configures docker.
type HelperConfig interface {
	// UseHelper maps each of registries to HelperName in credHelpers,
	// keeping every other entry. It writes only when a mapping changes,
	// and never with dryRun.
	UseHelper(registries []string, dryRun bool) (*ConfigChange, error)
	// Routes reports whether credHelpers maps the registry host ("host"
	// or "host:port", as RegistryHost returns) to HelperName: the user
	// chose to send that registry a Google token. It is false when the
	// configuration cannot be read.
	Routes(host string) bool
}

// ConfigChange is what UseHelper did, or would do.
type ConfigChange struct {
	// Path names the configuration, for messages.
	Path string
	// Content is the configuration with the mappings: what was written,
	// or what would be.
	Content []byte
	// Changed are the registries whose mapping changed, sorted; none
	// means nothing was written.
	Changed []string
	// Backup is where the previous file was saved; "" when nothing was
	// written or there was no previous file.
	Backup string
}

// ConfigPath is docker's client configuration file:
// $DOCKER_CONFIG/config.json, else .docker/config.json in the home
// directory, which on Windows docker takes from %USERPROFILE% alone.
func ConfigPath(getenv func(string) string) (string, error) {
	if dir := getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	homeVar := "HOME"
	if runtime.GOOS == "windows" {
		homeVar = "USERPROFILE"
	}
	home := getenv(homeVar)
	if home == "" {
		return "", fmt.Errorf("neither DOCKER_CONFIG nor %s is set", homeVar)
	}
	return filepath.Join(home, ".docker", "config.json"), nil
}

// ConfigFile is the HelperConfig of a docker config.json.
type ConfigFile struct {
	// Path is the file. Required; ConfigPath is the one docker reads.
	Path string
}

// UseHelper edits the file: the previous one is kept as config.json.bak,
// and the new one is written atomically with mode 0600 (the file can hold
// registry passwords), in a directory created 0700 if missing.
func (c *ConfigFile) UseHelper(registries []string, dryRun bool) (*ConfigChange, error) {
	old, existed, err := toolconfig.ReadFile(c.Path)
	if err != nil {
		return nil, err
	}
	data, changed, err := MergeHelpers(old, registries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	ch := &ConfigChange{Path: c.Path, Content: data, Changed: changed}
	if dryRun || len(changed) == 0 {
		return ch, nil
	}
	if ch.Backup, err = toolconfig.Replace(c.Path, old, data, existed); err != nil {
		return nil, err
	}
	return ch, nil
}

// Routes reads the file.
func (c *ConfigFile) Routes(host string) bool {
	data, err := os.ReadFile(c.Path)
	if err != nil {
		return false
	}
	var cfg struct {
		CredHelpers map[string]string `json:"credHelpers"`
	}
	if json.Unmarshal(data, &cfg) != nil {
		return false
	}
	return routes(cfg.CredHelpers, host)
}

// routes reports whether helpers map host to HelperName.
func routes(helpers map[string]string, host string) bool {
	for registry, helper := range helpers {
		if helper != HelperName {
			continue
		}
		if h, err := RegistryHost(registry); err == nil && h == host {
			return true
		}
	}
	return false
}

// MergeHelpers maps registries to HelperName in the credHelpers of the
// docker configuration old (which may be empty), keeping every other key as
// it was, and returns the new configuration and the registries whose
// mapping changed. It writes tab-indented JSON, as docker does.
func MergeHelpers(old []byte, registries []string) (data []byte, changed []string, err error) {
	doc := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(old)) > 0 {
		if err := json.Unmarshal(old, &doc); err != nil {
			return nil, nil, fmt.Errorf("not a docker config.json (%v); fix or move it", err)
		}
	}
	helpers := map[string]string{}
	if raw, ok := doc["credHelpers"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &helpers); err != nil {
			return nil, nil, fmt.Errorf(`"credHelpers" is not an object of strings (%v); fix the file`, err)
		}
	}
	for _, r := range registries {
		if helpers[r] != HelperName {
			helpers[r] = HelperName
			changed = append(changed, r)
		}
	}
	sort.Strings(changed)
	raw, err := json.Marshal(helpers)
	if err != nil {
		return nil, nil, err
	}
	doc["credHelpers"] = raw
	data, err = json.MarshalIndent(doc, "", "\t")
	if err != nil {
		return nil, nil, err
	}
	return append(data, '\n'), changed, nil
}

// CheckInstalled reports, as an error that says how to fix it, when docker
// cannot find HelperProgram on path (a PATH value; pathext is PATHEXT, for
// Windows). exe is the program to install under that name.
func CheckInstalled(path, pathext, exe string) error {
	if _, ok := toolconfig.LookPath(HelperProgram, path, pathext); ok {
		return nil
	}
	if runtime.GOOS == "windows" {
		// Symbolic links need administrator rights or developer mode
		// there; a copy (or a hard link) works as well.
		return fmt.Errorf("%s.exe is not on PATH, so docker cannot run it; copy it: Copy-Item '%s' DIR\\%s.exe (DIR on PATH)",
			HelperProgram, strings.ReplaceAll(exe, "'", "''"), HelperProgram)
	}
	return fmt.Errorf("%s is not on PATH, so docker cannot run it; link it: ln -s %s DIR/%s (DIR on PATH)",
		HelperProgram, toolconfig.ShellWord(exe), HelperProgram)
}
