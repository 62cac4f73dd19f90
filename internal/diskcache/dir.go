package diskcache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// dir is a verified cache directory, open. Every file operation goes
// through root, the directory's descriptor, never through its path again:
// whoever can rename a directory above it (or plant a symlink there) after
// the checks cannot redirect a read or a write elsewhere.
type dir struct {
	root *os.Root
	path string
}

// open verifies c.Dir and opens it; with create it makes the directory (and
// missing parents, 0700) first. A missing directory without create is an
// error satisfying errors.Is(err, fs.ErrNotExist).
//
// The checks are those of a directory another local user must not control
// (the cache holds bearer tokens; as root, a planted directory or symlink
// would also let its owner choose what root reads and writes):
//
//   - the directory itself is no symlink, is owned by the current user and
//     writable by nobody else; looser read permissions (umask 022) are
//     tightened to 0700 on the open descriptor, never through the path;
//   - its parent is owned by the user or root, and writable by others only
//     with the sticky bit (/tmp), so nobody else can rename the directory
//     away and put their own in its place.
//
// Directories further up are the user's own business (a home directory),
// and the descriptor makes their later changes harmless.
func (c *Cache) open(create bool) (*dir, error) {
	if c == nil || c.Dir == "" {
		return nil, errors.New("token cache: no cache directory")
	}
	if create {
		if err := mkdirPrivate(c.Dir); err != nil {
			return nil, fmt.Errorf("create token cache directory: %w", err)
		}
	}
	lfi, err := os.Lstat(c.Dir)
	switch {
	case err != nil:
		return nil, fmt.Errorf("token cache directory: %w", err)
	case lfi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("token cache directory %s is a symbolic link, which another user may have planted; "+
			"remove it, or set %s to the real directory", c.Dir, EnvDir)
	case !lfi.IsDir():
		return nil, fmt.Errorf("token cache directory %s is not a directory", c.Dir)
	}
	parent := filepath.Dir(c.Dir)
	pfi, err := os.Stat(parent)
	if err != nil {
		return nil, fmt.Errorf("token cache directory %s: %w", c.Dir, err)
	}
	if err := checkParent(parent, pfi); err != nil {
		return nil, fmt.Errorf("token cache directory %s: its parent %s %v", c.Dir, parent, err)
	}
	root, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("open token cache directory: %w", err)
	}
	d := &dir{root: root, path: c.Dir}
	if err := d.verify(lfi); err != nil {
		root.Close()
		return nil, err
	}
	return d, nil
}

// verify checks that the opened directory is the one open examined, and that
// it is the user's alone.
func (d *dir) verify(lfi os.FileInfo) error {
	f, err := d.root.Open(".")
	if err != nil {
		return fmt.Errorf("open token cache directory: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open token cache directory: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		return fmt.Errorf("token cache directory %s was replaced while being opened", d.path)
	}
	if err := checkDirOwner(f, fi); err != nil {
		return fmt.Errorf("token cache directory %s %v", d.path, err)
	}
	if err := tighten(d.path, f, fi); err != nil {
		return fmt.Errorf("restrict token cache directory %s: %w", d.path, err)
	}
	return nil
}

func (d *dir) close() { d.root.Close() }

// file is a name's path, for messages.
func (d *dir) file(name string) string { return filepath.Join(d.path, name) }

// openFile opens an existing name for reading, or with create for locking
// (creating it 0600). Only a regular file owned by the user and private to
// them is accepted: a symlink, a FIFO (which would block), a device or
// another user's file is refused, not followed. The symlink check is an
// Lstat before and the same inode after: os.Root refuses links that leave
// the directory but follows those within it, and O_NOFOLLOW cannot change
// that. Nobody else can write into the verified directory, so nothing can be
// swapped between the two.
func (d *dir) openFile(name string, create bool) (*os.File, os.FileInfo, error) {
	lfi, err := d.root.Lstat(name)
	switch {
	case err == nil && !lfi.Mode().IsRegular():
		return nil, nil, fmt.Errorf("%s is not a regular file (%v); ignored", d.file(name), lfi.Mode().Type())
	case err != nil && (!create || !errors.Is(err, fs.ErrNotExist)):
		return nil, nil, err
	}
	flag := os.O_RDONLY | openNoFollow
	if create {
		flag = os.O_RDWR | os.O_CREATE | openNoFollow
	}
	f, err := d.root.OpenFile(name, flag, 0o600)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular() || (lfi != nil && !os.SameFile(lfi, fi)):
		err = fmt.Errorf("%s was replaced while being opened; ignored", d.file(name))
	default:
		// A file others can read may already have leaked, and one others
		// own may have been planted; neither is trusted. It is not removed
		// either: removing other users' files is not our business.
		if perr := checkPrivate(f, fi); perr != nil {
			err = fmt.Errorf("%s: %w; ignored", d.file(name), perr)
		}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// readFile reads name through openFile, up to maxEntrySize bytes; it returns
// the FileInfo of what it read so that a caller removing it removes that
// file and not one a concurrent writer renamed into place since.
func (d *dir) readFile(name string) ([]byte, os.FileInfo, error) {
	f, fi, err := d.openFile(name, false)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, nil, err
	}
	return data, fi, nil
}

// removeIfSame removes name if it is still the file described by fi. The
// check narrows (it cannot close) the window in which a concurrent writer's
// fresh entry could be deleted; losing that race only costs one fetch.
func (d *dir) removeIfSame(name string, fi os.FileInfo) error {
	cur, err := d.root.Lstat(name)
	if err != nil || !os.SameFile(cur, fi) {
		return nil
	}
	if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeAtomic writes name through a new temporary file
// ("<name>.<random>.tmp", created exclusively, so never through a planted
// link) with mode 0600 set before any byte is written, fsyncs it and renames
// it into place: readers see the old entry or the new one, never a mix.
func (d *dir) writeAtomic(name string, data []byte) (err error) {
	var r [8]byte
	rand.Read(r[:])
	tmp := name + "." + hex.EncodeToString(r[:]) + tempSuffix
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write token cache: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			d.root.Remove(tmp)
			err = fmt.Errorf("write token cache %s: %w", d.file(name), err)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	// On Windows the file's DACL comes from the directory's inheritable
	// entries (see mkdirPrivate); check it before the token goes in.
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err = checkPrivate(f, fi); err != nil {
		return fmt.Errorf("new entry: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	// Readers open entries through os.Root, which shares delete access, so
	// a rename with POSIX semantics (os.Root asks for them) replaces an
	// entry even while it is being read; where Windows cannot, it waits for
	// the reader.
	return fileutil.RetryIfBusy(func() error { return d.root.Rename(tmp, name) })
}

// names lists the directory.
func (d *dir) names() ([]string, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// staleAfter is how long after it was written an entry is removed by prune.
// No Google token lives longer than 12 hours, so only dead entries go; and
// if one did not, the cost is one fetch.
const staleAfter = 24 * time.Hour

// prune removes entries written more than staleAfter before now. Keys that
// include a subject token's fingerprint change whenever the token rotates
// (hourly, for Kubernetes), so without pruning the directory would only
// grow.
func (d *dir) prune(now time.Time) {
	names, err := d.names()
	if err != nil {
		return
	}
	for _, name := range names {
		if !ownedName(name, entrySuffix) {
			continue
		}
		if fi, err := d.root.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(now.Add(-staleAfter)) {
			d.root.Remove(name)
		}
	}
}
