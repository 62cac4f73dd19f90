// Package gcloudconfig reads the Google Cloud CLI's configuration directory
// as gcloud does: where it is, which named configuration is active, and the
// properties that configuration and the environment set. It only reads:
// files that gcloud would create when missing are treated as empty.
//
// It follows gcloud's own code (googlecloudsdk/core/config.py,
// core/configurations/named_configs.py and properties_file.py,
// core/properties.py): a property's CLOUDSDK_SECTION_NAME variable
// overrides the active configuration's file. gcloud's installation-wide
// properties file (<SDK root>/properties) is not read: this package cannot
// know where gcloud is installed, and that file rarely sets the few
// properties read here.
package gcloudconfig

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// Environment variables gcloud reads to find its configuration.
const (
	EnvConfigDir    = "CLOUDSDK_CONFIG"
	EnvActiveConfig = "CLOUDSDK_ACTIVE_CONFIG_NAME"
)

// Names of gcloud's files inside the configuration directory.
const (
	CredentialsDB = "credentials.db"
	activeConfig  = "active_config"
	configsDir    = "configurations"
	configPrefix  = "config_"
)

// noneConfig is gcloud's reserved configuration with no properties.
const noneConfig = "NONE"

// defaultConfig is the configuration gcloud uses when none is active.
const defaultConfig = "default"

// maxFile bounds the files read here: gcloud's are a few hundred bytes.
const maxFile = 1 << 20

// validName is gcloud's _VALID_CONFIG_NAME_REGEX. Checking it also keeps a
// hostile CLOUDSDK_ACTIVE_CONFIG_NAME ("../../x") from naming a file
// outside the configurations directory.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][-a-z0-9]*$`) })

// Dir returns gcloud's configuration directory: $CLOUDSDK_CONFIG, else
// ~/.config/gcloud, else on Windows %APPDATA%\gcloud. home is the home
// directory ("" for os.UserHomeDir). When there is none, dir is "" and
// why says so.
func Dir(getenv func(string) string, home string) (dir, why string) {
	if d := getenv(EnvConfigDir); d != "" {
		return d, ""
	}
	if runtime.GOOS == "windows" {
		if d := getenv("APPDATA"); d != "" {
			return filepath.Join(d, "gcloud"), ""
		}
		return "", "APPDATA is not set"
	}
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", "no home directory: " + err.Error()
		}
		home = h
	}
	return filepath.Join(home, ".config", "gcloud"), ""
}

// Config is gcloud's active configuration in one directory.
type Config struct {
	// Dir is the configuration directory.
	Dir string
	// Name is the active configuration's name, "default" when none is
	// chosen, as in gcloud.
	Name string
	// NameFrom says how Name was chosen, for humans.
	NameFrom string
	// Path is the configuration's properties file ("" for gcloud's
	// reserved configuration NONE); it need not exist.
	Path string

	props  map[string]string // "section/name" → value
	getenv func(string) string
}

// Load reads the active configuration of the directory dir. A missing
// directory or file is an empty configuration; a file that cannot be read
// or parsed, or a configuration name gcloud would refuse, is an error.
func Load(ctx context.Context, dir string, getenv func(string) string) (*Config, error) {
	c := &Config{Dir: dir, getenv: getenv, props: map[string]string{}}
	if err := c.chooseName(ctx); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return c, nil
	}
	data, err := fileutil.ReadFile(ctx, c.Path, maxFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read gcloud configuration %q: %w", c.Path, err)
	}
	if c.props, err = parseProperties(data); err != nil {
		return nil, fmt.Errorf("gcloud configuration %q: %w", c.Path, err)
	}
	return c, nil
}

// chooseName finds the active configuration as gcloud's
// _EffectiveActiveConfigName does (there is no --configuration flag here).
func (c *Config) chooseName(ctx context.Context) error {
	name, from := c.getenv(EnvActiveConfig), EnvActiveConfig
	if name != "" {
		if name != noneConfig && !validName().MatchString(name) {
			return fmt.Errorf("%s=%q is not a gcloud configuration name (lower-case letters, digits and dashes, starting with a letter)", EnvActiveConfig, name)
		}
	} else {
		name, from = c.nameFromFile(ctx)
	}
	c.Name, c.NameFrom = name, from
	if name != noneConfig {
		c.Path = filepath.Join(c.Dir, configsDir, configPrefix+name)
	}
	return nil
}

// nameFromFile reads the active_config file. gcloud treats a missing,
// empty or invalid one as none (and deletes an invalid one; this package
// writes nothing), and then uses "default".
func (c *Config) nameFromFile(ctx context.Context) (name, from string) {
	path := filepath.Join(c.Dir, activeConfig)
	data, err := fileutil.ReadFile(ctx, path, maxFile)
	if err == nil {
		// gcloud writes the name without a newline; an editor adds one.
		if n := strings.TrimSpace(string(data)); n == noneConfig || validName().MatchString(n) {
			return n, path
		}
	}
	return defaultConfig, "default: no configuration is activated in " + path
}

// Get returns the property section/name: $CLOUDSDK_SECTION_NAME if set,
// else the configuration file's value; from names where it came from. An
// empty value means unset (gcloud's environment variables can be set to
// the empty string; Getenv cannot tell that from unset).
func (c *Config) Get(section, name string) (value, from string) {
	env := "CLOUDSDK_" + strings.ToUpper(section) + "_" + strings.ToUpper(name)
	if v := c.getenv(env); v != "" {
		return v, env
	}
	if v := c.props[section+"/"+name]; v != "" {
		return v, fmt.Sprintf("%s/%s in configuration %q", section, name, c.Name)
	}
	return "", ""
}
