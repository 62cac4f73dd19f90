package diskcache

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// grants reads path's DACL back as SID → the rights allowed to it (entries
// that only children inherit left out), and whether it is protected from
// the parent's. It reads the descriptor itself rather than through winacl,
// so that a mistake there cannot hide in both.
func grants(t *testing.T, path string) (allowed map[string]windows.ACCESS_MASK, owner string, protected bool) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("read the security descriptor of %s: %v", path, err)
	}
	o, _, err := sd.Owner()
	if err != nil {
		t.Fatal(err)
	}
	control, _, err := sd.Control()
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("%s has no DACL (%v): everyone has full control", path, err)
	}
	allowed = map[string]windows.ACCESS_MASK{}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE || ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart)).String()
		allowed[sid] |= ace.Mask
	}
	return allowed, o.String(), control&windows.SE_DACL_PROTECTED != 0
}

func currentUserSID(t *testing.T) string {
	t.Helper()
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	return u.User.Sid.String()
}

// checkPrivateACL fails unless path is owned by the current user, who has
// full control, and its DACL allows nobody but the user, SYSTEM (S-1-5-18)
// and Administrators (S-1-5-32-544) anything. On Windows it must also be
// protected and grant exactly those three; Wine stores no DACLs (it maps
// them to and from Unix permission bits, which have no room for
// Administrators or the protected flag), so there that part is reported,
// not checked.
func checkPrivateACL(t *testing.T, path string) {
	t.Helper()
	const fullControl = 0x1f01ff // FILE_ALL_ACCESS
	me := currentUserSID(t)
	allowed, owner, protected := grants(t, path)
	if owner != me {
		t.Errorf("%s is owned by %s; want the current user %s", path, owner, me)
	}
	if allowed[me]&fullControl != fullControl {
		t.Errorf("%s grants the current user %#x; want full control %#x", path, uint32(allowed[me]), fullControl)
	}
	for sid, mask := range allowed {
		if sid != me && sid != "S-1-5-18" && sid != "S-1-5-32-544" {
			t.Errorf("%s grants %s %#x; want nobody but the user, SYSTEM and Administrators", path, sid, uint32(mask))
		}
	}
	if underWine() {
		t.Logf("%s under Wine: DACL %v, protected %v (Wine derives both from Unix permission bits)", path, allowed, protected)
		return
	}
	if !protected {
		t.Errorf("%s has an unprotected DACL: the parent's entries flow in", path)
	}
	if len(allowed) != 3 {
		t.Errorf("%s grants %v; want exactly the user, SYSTEM and Administrators", path, allowed)
	}
}

// TestWindowsCacheACL: the cache directory gcptoken makes, and the entries
// and locks in it, are private by their DACL: what 0700 and 0600 are on
// Unix.
func TestWindowsCacheACL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "gcptoken")
	c := &Cache{Dir: dir, Now: fixedNow(t0)}
	key := testKey("a")
	p := &Provider{Cache: c, Key: key, Source: &countingSource{expiry: time.Now().Add(time.Hour)}}
	if _, err := p.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, fileOf(c, key, entrySuffix), fileOf(c, key, lockSuffix)} {
		checkPrivateACL(t, path)
	}
}

// TestWindowsLooseDirTightened: an existing cache directory others may
// read (made by hand, or by an older gcptoken) gets the private DACL.
func TestWindowsLooseDirTightened(t *testing.T) {
	t.Parallel()
	if underWine() {
		// Wine 8 turns any DACL set on an existing directory into Unix mode
		// 0775 (it never removes read access for others there); files and
		// new directories, whose descriptors it maps faithfully, are
		// checked by TestWindowsCacheACL.
		t.Skip("Wine cannot take read access away from an existing directory (see docs/desktops.md)")
	}
	dir := filepath.Join(t.TempDir(), "gcptoken")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	addACE(t, dir, "(A;OICI;FR;;;WD)")
	c := &Cache{Dir: dir, Now: fixedNow(t0)}
	if err := c.Put(testKey("a"), newToken("v", t0.Add(time.Hour))); err != nil {
		t.Fatalf("Put: %v", err)
	}
	checkPrivateACL(t, dir)
	checkPrivateACL(t, fileOf(c, testKey("a"), entrySuffix))
}

// TestWindowsUntrustedDirRefused: a cache directory in which others may add
// files (and so plant entries) is neither read nor written.
func TestWindowsUntrustedDirRefused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "gcptoken")
	c := &Cache{Dir: dir, Now: fixedNow(t0)}
	key := testKey("a")
	if err := c.Put(key, newToken("v", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	addACE(t, dir, "(A;;0x100002;;;WD)") // FILE_ADD_FILE|SYNCHRONIZE for Everyone
	if _, ok := c.Get(key, 0); ok {
		t.Error("Get served an entry from a directory others can write")
	}
	err := c.Put(key, newToken("v2", t0.Add(time.Hour)))
	if err == nil || !strings.Contains(err.Error(), "lets them plant entries") {
		t.Errorf("Put into a directory others can write = %v; want it refused", err)
	}
}

// TestWindowsReplaceWhileReaderHoldsEntry: Put replaces an entry that
// another reader (another gcptoken process, a virus scanner) holds open,
// and the reader goes on reading the old one. Readers open entries through
// os.Root, which shares delete access, and the rename asks for POSIX
// semantics (Windows 10 1709+ on NTFS): the replace succeeds at once.
// Where the rename has classic semantics (Wine, FAT, older Windows) it
// fails while the file is open, and Put retries until the reader closes it.
func TestWindowsReplaceWhileReaderHoldsEntry(t *testing.T) {
	t.Parallel()
	c := &Cache{Dir: t.TempDir(), Now: fixedNow(t0)}
	key := testKey("a")
	if err := c.Put(key, newToken("old", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	d, err := c.open(false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	held, _, err := d.openFile(Key(key)+entrySuffix, false)
	if err != nil {
		t.Fatal(err)
	}
	put := make(chan error, 1)
	go func() { put <- c.Put(key, newToken("new", t0.Add(time.Hour))) }()
	time.Sleep(200 * time.Millisecond)
	old, err := io.ReadAll(held)
	held.Close()
	if err != nil || !strings.Contains(string(old), `"old"`) {
		t.Errorf("the reader's open entry = %q, %v; want the old entry", old, err)
	}
	if err := <-put; err != nil {
		t.Fatalf("Put while a reader holds the entry open: %v", err)
	}
	if got, ok := c.Get(key, 0); !ok || got.Value != "new" {
		t.Errorf("Get after the replace = %v, %v; want new", got, ok)
	}
}
