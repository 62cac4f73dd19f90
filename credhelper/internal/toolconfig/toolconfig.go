// Package toolconfig holds what the credhelper packages share to set up
// the tools they serve (kubectl, docker, git): reading and replacing their
// configuration files the way a configure command must, finding programs on
// a PATH, the environment those programs run in, and sh quoting.
package toolconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// ReadFile reads a configuration file that may not exist yet.
func ReadFile(path string) (data []byte, existed bool, err error) {
	data, err = os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return data, true, nil
}

// Replace replaces path's content old (read with ReadFile; existed says
// whether there was a file) with data: old is kept in path+".bak" (0600),
// data is written atomically with mode 0600 (these files can hold
// credentials), and a missing directory is created 0700. It returns the
// backup's path, or "" when there was no previous file.
func Replace(path string, old, data []byte, existed bool) (backup string, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create directory for %s: %w", path, err)
	}
	if existed {
		if backup, err = Backup(path, old); err != nil {
			return "", err
		}
	}
	if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return backup, nil
}

// Backup saves old, path's content before an edit, as path+".bak" (0600)
// and returns that name.
func Backup(path string, old []byte) (string, error) {
	backup := path + ".bak"
	if err := fileutil.WriteAtomic(backup, old, 0o600); err != nil {
		return "", fmt.Errorf("back up %s: %w", path, err)
	}
	return backup, nil
}

// LookPath finds the program name in the directories of path (a PATH
// value), so that callers can pass another environment's PATH. On Windows
// name takes each extension of pathext (a PATHEXT value; default .com,
// .exe, .bat, .cmd), as os/exec, which docker runs helpers with, does.
func LookPath(name, path, pathext string) (string, bool) {
	names := []string{name}
	if runtime.GOOS == "windows" {
		if pathext == "" {
			pathext = ".com;.exe;.bat;.cmd"
		}
		names = nil
		for _, ext := range strings.Split(strings.ToLower(pathext), ";") {
			if strings.HasPrefix(ext, ".") {
				names = append(names, name+ext)
			}
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			continue
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0) {
				return p, true
			}
		}
	}
	return "", false
}

// Home is the home directory kubectl and git use: $HOME, or on Windows,
// where HOME is usually unset, %USERPROFILE% (client-go's homedir.HomeDir
// and Git for Windows fall back to it). Its second result names what to set
// when there is none.
func Home(getenv func(string) string) (home, want string) {
	if h := getenv("HOME"); h != "" || runtime.GOOS != "windows" {
		return h, "HOME"
	}
	return getenv("USERPROFILE"), "HOME or USERPROFILE"
}

// Env is the environment git and kubectl run in to edit their
// configuration: PATH, the home directory and the variables that choose
// git's global configuration file, read through getenv so that callers
// (tests) can point them at a temporary directory.
//
// On Windows a program started without SystemRoot cannot even load its
// networking DLLs, and Git for Windows finds the home directory through
// USERPROFILE or HOMEDRIVE and HOMEPATH when HOME is unset (as it usually
// is there; an empty HOME would be taken as the home), so those pass too.
func Env(getenv func(string) string) []string {
	env := []string{"PATH=" + getenv("PATH")}
	for _, k := range []string{"HOME", "GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "GIT_CONFIG_NOSYSTEM", "USERPROFILE", "HOMEDRIVE", "HOMEPATH",
		"SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT", "APPDATA", "LOCALAPPDATA", "TEMP", "TMP", "ProgramData"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// ShellWord quotes s for POSIX sh when it needs quoting.
func ShellWord(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./:=,@%+-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
