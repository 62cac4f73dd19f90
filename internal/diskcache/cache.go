package diskcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// formatVersion is written into every entry. Entries with any other version
// are misses (and left alone: a newer gcptoken installed next to this one
// may own them), so the format can change without a migration.
const formatVersion = 1

// File name suffixes. Clear removes only names with these shapes, so it
// never touches files it did not write even if Dir is shared by mistake.
const (
	entrySuffix = ".json"
	lockSuffix  = ".lock"
	tempSuffix  = fileutil.TempSuffix
)

// maxEntrySize caps how much Get reads. Real entries are a few KiB at most
// (ID tokens are the largest); anything bigger is not ours.
const maxEntrySize = 64 << 10

// EnvDir names the environment variable that overrides DefaultDir.
const EnvDir = "GCPTOKEN_CACHE_DIR"

// DefaultDir returns $GCPTOKEN_CACHE_DIR if it is set and non-empty, else
// the "gcptoken" directory under os.UserCacheDir.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find token cache directory: %w", err)
	}
	return filepath.Join(base, "gcptoken"), nil
}

// Cache is a directory of token entries, one file per key. The zero value is
// not usable: Dir is required. A Cache holds no state besides its fields, so
// any number of Cache values, in any number of processes, may share a Dir.
type Cache struct {
	// Dir is the cache directory. Required. It is created (0700) on first
	// write, and its permissions are tightened to 0700 if they are looser.
	Dir string
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// entry is the on-disk format. It deliberately has no field that could hold
// a credential: the whole file is safe to leak for as long as the token is.
type entry struct {
	Version  int       `json:"version"`
	Kind     string    `json:"kind"`
	Type     string    `json:"token_type,omitempty"`
	Value    string    `json:"token"`
	Expiry   time.Time `json:"expiry"`
	Scope    string    `json:"scope,omitempty"`
	Audience string    `json:"audience,omitempty"`
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) path(key, suffix string) string {
	return filepath.Join(c.Dir, key+suffix)
}

// Get returns the token stored under key if it is still valid for at least
// minRemaining. Everything else is a miss: no entry, an unreadable entry, a
// corrupt one (which is removed), a symlink, an entry readable by other
// users or owned by someone else, an unknown format version, or a token that
// expires within minRemaining. A negative minRemaining counts as zero, so an expired
// token is never returned.
func (c *Cache) Get(key string, minRemaining time.Duration) (*gcptoken.Token, bool) {
	if c == nil || c.Dir == "" || !validKey(key) {
		return nil, false
	}
	minRemaining = max(minRemaining, 0)
	p := c.path(key, entrySuffix)
	e, fi, err := readEntry(p)
	if err != nil {
		if errors.Is(err, errCorrupt) && fi != nil {
			removeIfSame(p, fi)
		}
		return nil, false
	}
	if e.Version != formatVersion {
		return nil, false
	}
	t := e.token()
	if t.ExpiresWithin(c.now(), minRemaining) {
		return nil, false
	}
	return t, true
}

// errCorrupt marks entries that can never become valid and should go.
var errCorrupt = errors.New("corrupt cache entry")

// readEntry opens, checks and decodes one entry. It returns the FileInfo of
// what it read (when it got that far) so a caller removing a corrupt entry
// can make sure it removes that file and not one a concurrent Put just
// renamed into place.
func readEntry(p string) (*entry, os.FileInfo, error) {
	// Lstat first: a symlink in our private directory was not made by us.
	lfi, err := os.Lstat(p)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !os.SameFile(lfi, fi) {
		return nil, nil, fmt.Errorf("%s: replaced while opening", p)
	}
	// A file others can read may already have leaked, and one others own
	// may have been planted; neither is trusted. It is not removed either:
	// Put replaces it by rename, and removing other users' files is not our
	// business.
	if err := checkPrivate(fi); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxEntrySize {
		return nil, fi, fmt.Errorf("%s: %w: larger than %d bytes", p, errCorrupt, maxEntrySize)
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fi, fmt.Errorf("%s: %w: %v", p, errCorrupt, err)
	}
	if e.Version == formatVersion {
		if e.Value == "" || e.Expiry.IsZero() || !knownKind(gcptoken.Kind(e.Kind)) {
			return nil, fi, fmt.Errorf("%s: %w: missing token, expiry or kind", p, errCorrupt)
		}
	}
	return &e, fi, nil
}

func knownKind(k gcptoken.Kind) bool {
	return k == gcptoken.AccessToken || k == gcptoken.IDToken
}

// removeIfSame removes p if it is still the file described by fi. The check
// narrows (it cannot close) the window in which a concurrent writer's fresh
// entry could be deleted; losing that race only costs one extra fetch.
func removeIfSame(p string, fi os.FileInfo) {
	if cur, err := os.Lstat(p); err == nil && os.SameFile(cur, fi) {
		os.Remove(p)
	}
}

func (e *entry) token() *gcptoken.Token {
	t := &gcptoken.Token{
		Value:  e.Value,
		Type:   e.Type,
		Kind:   gcptoken.Kind(e.Kind),
		Expiry: e.Expiry,
	}
	if e.Scope != "" || e.Audience != "" {
		t.Metadata = make(map[string]string, 2)
		if e.Scope != "" {
			t.Metadata[gcptoken.MetaScope] = e.Scope
		}
		if e.Audience != "" {
			t.Metadata[gcptoken.MetaAudience] = e.Audience
		}
	}
	return t
}

// Put stores t under key, replacing any previous entry atomically: readers
// in other processes see the old entry or the new one, never a mix. Only the
// token's value, type, kind, expiry and its "scope" and "audience" metadata
// are written; other metadata (notably an "id_token" riding along with an
// access token) is dropped, because nothing may reach disk that the key did
// not ask for. Tokens without an expiry are refused: their lifetime is
// unknown, so they could never be served safely.
func (c *Cache) Put(key string, t *gcptoken.Token) error {
	if c == nil || c.Dir == "" {
		return errors.New("cache token: no cache directory")
	}
	if !validKey(key) {
		return fmt.Errorf("cache token: invalid key %q", key)
	}
	switch {
	case t == nil || t.Value == "":
		return errors.New("cache token: empty token")
	case t.Expiry.IsZero():
		return errors.New("cache token: token has no expiry")
	case !knownKind(t.Kind):
		return fmt.Errorf("cache token: unknown token kind %q", t.Kind)
	}
	e := entry{
		Version: formatVersion,
		Kind:    string(t.Kind),
		Type:    t.Type,
		Value:   t.Value,
		Expiry:  t.Expiry.UTC(),
	}
	if t.Metadata != nil {
		e.Scope = t.Metadata[gcptoken.MetaScope]
		e.Audience = t.Metadata[gcptoken.MetaAudience]
	}
	data, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("cache token: %w", err)
	}
	if err := c.ensureDir(); err != nil {
		return err
	}
	return writeAtomic(c.path(key, entrySuffix), data)
}

// ensureDir creates Dir with mode 0700, or tightens an existing Dir to 0700:
// the directory is ours, and a listable cache directory leaks which
// identities are in use.
func (c *Cache) ensureDir() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("create token cache directory: %w", err)
	}
	fi, err := os.Stat(c.Dir)
	if err != nil {
		return fmt.Errorf("create token cache directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("token cache directory %q is not a directory", c.Dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(c.Dir, 0o700); err != nil {
			return fmt.Errorf("restrict token cache directory: %w", err)
		}
	}
	return nil
}

// writeAtomic writes an entry atomically with mode 0600.
func writeAtomic(dst string, data []byte) error {
	if err := fileutil.WriteAtomic(dst, data, 0o600); err != nil {
		return fmt.Errorf("write token cache: %w", err)
	}
	return nil
}

// Clear removes every cache entry in Dir and returns how many entries it
// removed. It also removes lock files and temporary files left behind by
// crashed writers, but does not count them. Files whose names this package
// would not have produced are left alone, as is Dir itself. A missing Dir
// is an empty cache, not an error.
//
// Removing a lock file while another process waits on it only costs that
// process's coalescing: at worst two fetches instead of one.
func (c *Cache) Clear() (removed int, err error) {
	if c == nil || c.Dir == "" {
		return 0, errors.New("clear token cache: no cache directory")
	}
	des, err := os.ReadDir(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clear token cache: %w", err)
	}
	var errs []error
	for _, de := range des {
		name := de.Name()
		isEntry := ownedName(name, entrySuffix)
		if !isEntry && !ownedName(name, lockSuffix) && !isTempName(name) {
			continue
		}
		if err := os.Remove(filepath.Join(c.Dir, name)); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if isEntry {
			removed++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clear token cache: %w", err)
	}
	return removed, nil
}

// ownedName reports whether name is "<key><suffix>".
func ownedName(name, suffix string) bool {
	k, ok := strings.CutSuffix(name, suffix)
	return ok && validKey(k)
}

// isTempName reports whether name is a temporary file made by writeAtomic:
// "<key>.json.<random>.tmp".
func isTempName(name string) bool {
	if !strings.HasSuffix(name, tempSuffix) || len(name) < keyLen {
		return false
	}
	return validKey(name[:keyLen]) && strings.HasPrefix(name[keyLen:], entrySuffix+".")
}
