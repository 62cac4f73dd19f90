package diskcache

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

// formatVersion is written into every entry. Entries with any other version
// are misses (and left alone: another gcptoken version installed next to
// this one may own them), so the format can change without a migration.
// Version 1 entries recorded neither their key nor their request.
const formatVersion = 2

// File name suffixes. Clear removes only names with these shapes, so it
// never touches files it did not write even if Dir is shared by mistake.
const (
	entrySuffix = ".json"
	lockSuffix  = ".lock"
	tempSuffix  = ".tmp"
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
	// write, and its permissions are tightened to 0700 if others may read
	// it. It must be the user's own: a directory owned by another user,
	// writable by others, reached through a symlink or in a parent others
	// control is refused (see open), and the cache is then not used.
	Dir string
	// Now returns the current time. Optional; default time.Now.
	Now func() time.Time
}

// entry is the on-disk format. It deliberately has no field that could hold
// a credential: the whole file is safe to leak for as long as the token is.
// It records what it was stored for, and Get serves it only for exactly
// that: a file copied or renamed to another key's name, or a key collision,
// is not served.
type entry struct {
	Version int    `json:"version"`
	Key     string `json:"key"`
	// Identity and Owner are digests of KeyParts.Identity and Owner.
	Identity string `json:"identity"`
	Owner    string `json:"owner"`
	// Principal is KeyParts.Principal, in the clear; absent in entries
	// written before it was recorded.
	Principal string       `json:"principal,omitempty"`
	Request   entryRequest `json:"request"`
	Token     entryToken   `json:"token"`
}

// entryRequest is what the caller asked for; the token's own scope and
// audience (which may differ: user credentials cannot choose the audience)
// are in entryToken.
type entryRequest struct {
	Kind     string   `json:"kind"`
	Scopes   []string `json:"scopes,omitempty"` // sorted
	Audience string   `json:"audience,omitempty"`
}

type entryToken struct {
	Type     string    `json:"type,omitempty"`
	Value    string    `json:"value"`
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

// Get returns the token stored for p if it is still valid for at least
// minRemaining. Everything else is a miss: no entry, an unusable directory
// (see Dir), an unreadable entry, a corrupt one (which is removed), one
// stored for another key or request, a symlink or other non-regular file,
// an entry readable by other users or owned by someone else, an unknown
// format version, or a token that expires within minRemaining. A negative
// minRemaining counts as zero, so an expired token is never returned.
func (c *Cache) Get(p KeyParts, minRemaining time.Duration) (*gcptoken.Token, bool) {
	d, err := c.open(false)
	if err != nil {
		return nil, false
	}
	defer d.close()
	t, _ := d.get(p, c.now(), minRemaining)
	return t, t != nil
}

// get is Get in an open directory. Its error says why an entry that exists
// was refused; a plain miss (none, expired, another format version) is nil,
// nil.
func (d *dir) get(p KeyParts, now time.Time, minRemaining time.Duration) (*gcptoken.Token, error) {
	key := Key(p)
	name := key + entrySuffix
	e, fi, err := d.readEntry(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.Is(err, errCorrupt):
		d.removeIfSame(name, fi)
		return nil, err
	case err != nil:
		return nil, err
	case e.Version != formatVersion:
		return nil, nil
	}
	if err := e.check(key, p); err != nil {
		d.removeIfSame(name, fi)
		return nil, fmt.Errorf("%s: %w", d.file(name), err)
	}
	t := e.token(p.Kind)
	if t.ExpiresWithin(now, max(minRemaining, 0)) {
		return nil, nil
	}
	return t, nil
}

// errCorrupt marks entries that can never become valid and should go.
var errCorrupt = errors.New("corrupt cache entry")

// readEntry reads and decodes one entry; the FileInfo is that of the file
// read, for removeIfSame.
func (d *dir) readEntry(name string) (*entry, os.FileInfo, error) {
	data, fi, err := d.readFile(name)
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxEntrySize {
		return nil, fi, fmt.Errorf("%s: %w: larger than %d bytes", d.file(name), errCorrupt, maxEntrySize)
	}
	// The version first: other versions' fields may have other types.
	var e entry
	if err := json.Unmarshal(data, &struct {
		Version *int `json:"version"`
	}{&e.Version}); err != nil {
		return nil, fi, fmt.Errorf("%s: %w: %v", d.file(name), errCorrupt, err)
	}
	if e.Version != formatVersion {
		return &e, fi, nil
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fi, fmt.Errorf("%s: %w: %v", d.file(name), errCorrupt, err)
	}
	return &e, fi, nil
}

// check reports whether e may be served for p under key; its errors wrap
// errCorrupt.
func (e *entry) check(key string, p KeyParts) error {
	want := newRequest(p)
	switch {
	case e.Key != key:
		return fmt.Errorf("%w: stored under another key (renamed or copied)", errCorrupt)
	case e.Identity != digest(identityLabel, p.Identity):
		return fmt.Errorf("%w: stored for another identity", errCorrupt)
	case e.Request.Kind != want.Kind || e.Request.Audience != want.Audience || !slices.Equal(e.Request.Scopes, want.Scopes):
		return fmt.Errorf("%w: stored for another kind, audience or scopes", errCorrupt)
	}
	if err := e.Token.check(); err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return nil
}

// check refuses what no token endpoint returns and what must not reach a
// terminal, a header or a script: the value is a bearer token, the type one
// word, and the scope and audience free of control characters.
func (t *entryToken) check() error {
	if err := gcptoken.CheckTokenValue(t.Value); err != nil {
		return err
	}
	switch {
	case t.Expiry.IsZero():
		return errors.New("no expiry")
	case gcptoken.CheckTokenType(t.Type) != nil:
		return errors.New("token type is not one word")
	case safetext.Escape(t.Scope) != t.Scope || safetext.Escape(t.Audience) != t.Audience:
		return errors.New("scope or audience holds control characters")
	}
	return nil
}

func newRequest(p KeyParts) entryRequest {
	scopes := slices.Clone(p.Scopes)
	slices.Sort(scopes)
	return entryRequest{Kind: string(p.Kind), Scopes: scopes, Audience: p.Audience}
}

func (e *entry) token(kind gcptoken.Kind) *gcptoken.Token {
	t := &gcptoken.Token{
		Value:  e.Token.Value,
		Type:   e.Token.Type,
		Kind:   kind,
		Expiry: e.Token.Expiry,
	}
	if e.Token.Scope != "" || e.Token.Audience != "" {
		t.Metadata = make(map[string]string, 2)
		if e.Token.Scope != "" {
			t.Metadata[gcptoken.MetaScope] = e.Token.Scope
		}
		if e.Token.Audience != "" {
			t.Metadata[gcptoken.MetaAudience] = e.Token.Audience
		}
	}
	return t
}

// Put stores t for p, replacing any previous entry atomically: readers in
// other processes see the old entry or the new one, never a mix. Only the
// token's value, type, expiry and its "scope" and "audience" metadata are
// written, with what p asked for; other metadata (notably an "id_token"
// riding along with an access token) is dropped, because nothing may reach
// disk that the key did not ask for. Tokens without an expiry are refused:
// their lifetime is unknown, so they could never be served safely.
func (c *Cache) Put(p KeyParts, t *gcptoken.Token) error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("cache token: %w", err)
	}
	e, err := newEntry(p, t)
	if err != nil {
		return err
	}
	d, err := c.open(true)
	if err != nil {
		return err
	}
	defer d.close()
	return d.put(p, e)
}

func (d *dir) put(p KeyParts, e *entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("cache token: %w", err)
	}
	return d.writeAtomic(e.Key+entrySuffix, data)
}

// newEntry checks t and makes its entry for p.
func newEntry(p KeyParts, t *gcptoken.Token) (*entry, error) {
	switch {
	case t == nil || t.Value == "":
		return nil, errors.New("cache token: empty token")
	case t.Expiry.IsZero():
		return nil, errors.New("cache token: token has no expiry")
	case t.Kind != p.Kind:
		return nil, fmt.Errorf("cache token: a %s token for a %s request", t.Kind, p.Kind)
	}
	e := &entry{
		Version:  formatVersion,
		Key:      Key(p),
		Identity: digest(identityLabel, p.Identity),
		Owner:    digest(ownerLabel, p.owner()),
		Request:  newRequest(p),
		// Whom the token is for: shown by List, so it must not act on a
		// terminal.
		Principal: safetext.OneLine(p.Principal),
		Token:     entryToken{Type: t.Type, Value: t.Value, Expiry: t.Expiry.UTC()},
	}
	if t.Metadata != nil {
		e.Token.Scope = t.Metadata[gcptoken.MetaScope]
		e.Token.Audience = t.Metadata[gcptoken.MetaAudience]
	}
	if err := e.Token.check(); err != nil {
		return nil, fmt.Errorf("cache token: %w", err)
	}
	return e, nil
}

// Forget removes the entry for p, so that the next Get misses: a server
// refused its token (git and docker credential helpers' erase). With a
// non-empty value it removes the entry only if it holds that token, so that
// a refusal of an older token does not throw away a newer one. It reports
// whether it removed an entry; a missing directory or entry is no error.
func (c *Cache) Forget(p KeyParts, value string) (bool, error) {
	d, err := c.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("forget cached token: %w", err)
	}
	defer d.close()
	name := Key(p) + entrySuffix
	e, fi, err := d.readEntry(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil && !errors.Is(err, errCorrupt):
		return false, fmt.Errorf("forget cached token: %w", err)
	case err == nil && e.Version != formatVersion:
		return false, nil // not ours
	case err == nil && value != "" && subtle.ConstantTimeCompare([]byte(e.Token.Value), []byte(value)) != 1:
		return false, nil
	}
	if err := d.removeIfSame(name, fi); err != nil {
		return false, fmt.Errorf("forget cached token: %w", err)
	}
	return true, nil
}

// ForgetOwner removes every entry whose KeyParts.Owner was owner (all its
// kinds, scopes, audiences, impersonated targets and boundaries) and
// returns how many it removed: the credential was revoked (logout). Entries
// it cannot read are left alone; a missing directory is an empty cache.
func (c *Cache) ForgetOwner(owner string) (removed int, err error) {
	d, err := c.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("forget cached tokens: %w", err)
	}
	defer d.close()
	names, err := d.names()
	if err != nil {
		return 0, fmt.Errorf("forget cached tokens: %w", err)
	}
	want := digest(ownerLabel, owner)
	var errs []error
	for _, name := range names {
		if !ownedName(name, entrySuffix) {
			continue
		}
		e, fi, err := d.readEntry(name)
		if err != nil || e.Owner != want {
			continue
		}
		if err := d.removeIfSame(name, fi); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("forget cached tokens: %w", err)
	}
	return removed, nil
}

// Listing describes one cached token without its value: whom it is for,
// what was asked, and when it expires.
type Listing struct {
	// Principal is whom the token is for; "" for entries that did not
	// record it.
	Principal string
	Kind      gcptoken.Kind
	// Scopes and Audience are what was asked; Scope is what the token
	// endpoint granted, when it said.
	Scopes   []string
	Audience string
	Scope    string
	Expiry   time.Time
}

// List describes every entry of this format in Dir, expired ones included,
// sorted by principal, kind and expiry. It never returns a token value.
// Entries it cannot read are skipped; a missing Dir is an empty cache.
func (c *Cache) List() ([]Listing, error) {
	var out []Listing
	err := c.eachEntry(func(_ *dir, _ string, e *entry, _ os.FileInfo) error {
		out = append(out, Listing{Principal: e.Principal, Kind: gcptoken.Kind(e.Request.Kind),
			Scopes: e.Request.Scopes, Audience: e.Request.Audience, Scope: e.Token.Scope, Expiry: e.Token.Expiry})
		return nil
	})
	slices.SortFunc(out, func(a, b Listing) int {
		return cmp.Or(cmp.Compare(a.Principal, b.Principal), cmp.Compare(a.Kind, b.Kind), a.Expiry.Compare(b.Expiry))
	})
	if err != nil {
		return out, fmt.Errorf("list cached tokens: %w", err)
	}
	return out, nil
}

// ForgetPrincipal removes every entry recorded for principal (all its
// kinds, scopes and audiences) and returns how many it removed. Entries
// that did not record a principal are left alone.
func (c *Cache) ForgetPrincipal(principal string) (removed int, err error) {
	var errs []error
	err = c.eachEntry(func(d *dir, name string, e *entry, fi os.FileInfo) error {
		if principal == "" || e.Principal != principal {
			return nil
		}
		if err := d.removeIfSame(name, fi); err != nil {
			errs = append(errs, err)
			return nil
		}
		removed++
		return nil
	})
	if err := errors.Join(append(errs, err)...); err != nil {
		return removed, fmt.Errorf("forget cached tokens: %w", err)
	}
	return removed, nil
}

// eachEntry calls fn for every readable entry of this format in Dir.
func (c *Cache) eachEntry(fn func(d *dir, name string, e *entry, fi os.FileInfo) error) error {
	d, err := c.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.close()
	names, err := d.names()
	if err != nil {
		return err
	}
	for _, name := range names {
		if !ownedName(name, entrySuffix) {
			continue
		}
		e, fi, err := d.readEntry(name)
		if err != nil || e.Version != formatVersion {
			continue
		}
		if err := fn(d, name, e, fi); err != nil {
			return err
		}
	}
	return nil
}

// Clear removes every cache entry in Dir and returns how many entries it
// removed. It also removes lock files and temporary files left behind by
// crashed writers, but does not count them. Files whose names this package
// would not have produced are left alone, as is Dir itself. A missing Dir
// is an empty cache, not an error; one that is not the user's own (see Dir)
// is an error.
//
// Removing a lock file while another process waits on it only costs that
// process's coalescing: at worst two fetches instead of one.
func (c *Cache) Clear() (removed int, err error) {
	d, err := c.open(false)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("clear token cache: %w", err)
	}
	defer d.close()
	names, err := d.names()
	if err != nil {
		return 0, fmt.Errorf("clear token cache: %w", err)
	}
	var errs []error
	for _, name := range names {
		isEntry := ownedName(name, entrySuffix)
		if !isEntry && !ownedName(name, lockSuffix) && !isTempName(name) {
			continue
		}
		if err := d.root.Remove(name); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
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
