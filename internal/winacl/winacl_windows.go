package winacl

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Access rights of directories that x/sys/windows does not name.
const (
	fileAddFile         = 0x2  // FILE_ADD_FILE (= FILE_WRITE_DATA)
	fileAddSubdirectory = 0x4  // FILE_ADD_SUBDIRECTORY (= FILE_APPEND_DATA)
	fileDeleteChild     = 0x40 // FILE_DELETE_CHILD
)

// Rights that matter, for the checks' masks.
const (
	// ReadOrWrite is reading or changing a file's content or who may:
	// what group and other permission bits grant on Unix. Reading
	// attributes and the security descriptor (stat) is not in it.
	ReadOrWrite windows.ACCESS_MASK = windows.FILE_READ_DATA | windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA |
		windows.FILE_READ_EA | windows.FILE_WRITE_EA | windows.FILE_EXECUTE | fileDeleteChild |
		windows.DELETE | windows.WRITE_DAC | windows.WRITE_OWNER
	// WriteDir is adding, removing or renaming entries of a directory, or
	// the directory itself, or granting that: Unix's write permission.
	WriteDir windows.ACCESS_MASK = fileAddFile | fileAddSubdirectory | fileDeleteChild |
		windows.DELETE | windows.WRITE_DAC | windows.WRITE_OWNER
	// ReplaceChild is what lets someone swap a directory's existing
	// entries: delete them, or grant themselves the right to. Adding new
	// entries is not in it (C:\ lets every user make folders, as /tmp does).
	ReplaceChild windows.ACCESS_MASK = fileDeleteChild | windows.WRITE_DAC | windows.WRITE_OWNER
)

type identity struct {
	user, owner, system, admins, trustedInstaller *windows.SID
	sd                                            *windows.SECURITY_DESCRIPTOR
}

// me is the process's identity, looked up once.
var me = sync.OnceValues(func() (*identity, error) {
	tok := windows.GetCurrentProcessToken()
	u, err := tok.GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("find the current user: %w", err)
	}
	id := &identity{user: u.User.Sid}
	// The default owner of new objects: the user, or the Administrators
	// group in an elevated process.
	id.owner, err = tokenOwner(tok)
	if err != nil {
		return nil, err
	}
	if id.system, err = windows.CreateWellKnownSid(windows.WinLocalSystemSid); err != nil {
		return nil, err
	}
	if id.admins, err = windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid); err != nil {
		return nil, err
	}
	// NT SERVICE\TrustedInstaller owns system directories such as C:\.
	if id.trustedInstaller, err = windows.StringToSid("S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"); err != nil {
		return nil, err
	}
	// P: protected, nothing inherited from the parent; OICI: files and
	// directories made inside inherit the same three entries.
	id.sd, err = windows.SecurityDescriptorFromString("D:P(A;OICI;FA;;;" + id.user.String() + ")(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	if err != nil {
		return nil, fmt.Errorf("make a private security descriptor: %w", err)
	}
	return id, nil
})

func tokenOwner(tok windows.Token) (*windows.SID, error) {
	n := uint32(64)
	for {
		buf := make([]byte, n)
		err := windows.GetTokenInformation(tok, windows.TokenOwner, &buf[0], n, &n)
		if errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("find the default owner: %w", err)
		}
		owner := (*struct{ Owner *windows.SID })(unsafe.Pointer(&buf[0])).Owner
		return owner.Copy()
	}
}

// Attributes returns security attributes for CreateFile and
// CreateDirectory that make the new file or directory private.
func Attributes() (*windows.SecurityAttributes, error) {
	id, err := me()
	if err != nil {
		return nil, err
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: id.sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	return sa, nil
}

// Mkdir makes the directory path, private from the start: what
// os.Mkdir(path, 0o700) does on Unix.
func Mkdir(path string) error {
	sa, err := Attributes()
	if err != nil {
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	if err := windows.CreateDirectory(p, sa); err != nil {
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	return nil
}

// Restrict replaces the DACL of the file or directory open as h with the
// private, protected one; h needs WRITE_DAC (see OpenForDACL).
func Restrict(h windows.Handle) error {
	id, err := me()
	if err != nil {
		return err
	}
	dacl, _, err := id.sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetSecurityInfo(h, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// OpenForDACL opens path (a file or a directory, never following a
// symbolic link or junction) with the rights to read and replace its DACL.
func OpenForDACL(path string) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return windows.InvalidHandle, err
	}
	return windows.CreateFile(p, windows.READ_CONTROL|windows.WRITE_DAC|windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
}

// Descriptor is the owner and DACL of a file or directory.
type Descriptor struct {
	sd *windows.SECURITY_DESCRIPTOR
}

// Get reads the owner and DACL of the open handle h, which needs
// READ_CONTROL (os.Open and os.Root give it).
func Get(h windows.Handle) (*Descriptor, error) {
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("read its security descriptor: %w", err)
	}
	return &Descriptor{sd: sd}, nil
}

// GetNamed reads the owner and DACL of path.
func GetNamed(path string) (*Descriptor, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("read its security descriptor: %w", err)
	}
	return &Descriptor{sd: sd}, nil
}

// String is the descriptor in SDDL, for messages and tests.
func (d *Descriptor) String() string { return d.sd.String() }

// Protected reports whether the DACL ignores the parent's inheritable
// entries.
func (d *Descriptor) Protected() bool {
	c, _, err := d.sd.Control()
	return err == nil && c&windows.SE_DACL_PROTECTED != 0
}

// CheckOwner refuses an owner other than the current user (or the default
// owner of its new objects, Administrators when elevated); with
// systemToo, SYSTEM, Administrators and TrustedInstaller are accepted too,
// as root is for a Unix parent directory.
func (d *Descriptor) CheckOwner(systemToo bool) error {
	id, err := me()
	if err != nil {
		return err
	}
	owner, _, err := d.sd.Owner()
	if err != nil || owner == nil {
		return errors.New("has no owner")
	}
	if owner.Equals(id.user) || owner.Equals(id.owner) ||
		systemToo && (owner.Equals(id.system) || owner.Equals(id.admins) || owner.Equals(id.trustedInstaller)) {
		return nil
	}
	return fmt.Errorf("is owned by %s, not by this user (%s)", account(owner), account(id.user))
}

// CheckGrants refuses a DACL that allows any of the rights in mask to
// anyone but the current user, its default owner, SYSTEM, Administrators
// and OWNER RIGHTS (the owner, checked by CheckOwner), or that cannot be
// read as such: no DACL at all (everyone may do anything), or an entry of
// a kind Windows file systems do not write.
func (d *Descriptor) CheckGrants(mask windows.ACCESS_MASK) error {
	id, err := me()
	if err != nil {
		return err
	}
	dacl, _, err := d.sd.DACL()
	if err != nil || dacl == nil {
		return errors.New("has no access control list, so everyone has full control")
	}
	ownerRights, _ := windows.StringToSid("S-1-3-4")
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("has an unreadable access control entry: %w", err)
		}
		if ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0 || ace.Header.AceType == windows.ACCESS_DENIED_ACE_TYPE {
			continue // applies only to new children, or takes rights away
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			return fmt.Errorf("has an access control entry of type %d, which gcptoken does not check", ace.Header.AceType)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if sid.Equals(id.user) || sid.Equals(id.owner) || sid.Equals(id.system) || sid.Equals(id.admins) || sid.Equals(ownerRights) {
			continue
		}
		if expand(ace.Mask)&mask != 0 {
			return fmt.Errorf("grants %s access (%#x)", account(sid), uint32(ace.Mask))
		}
	}
	return nil
}

// expand adds to m the specific rights its generic rights stand for on
// files.
func expand(m windows.ACCESS_MASK) windows.ACCESS_MASK {
	if m&windows.GENERIC_ALL != 0 {
		m |= windows.STANDARD_RIGHTS_ALL | 0x1ff
	}
	if m&windows.GENERIC_READ != 0 {
		m |= windows.FILE_GENERIC_READ
	}
	if m&windows.GENERIC_WRITE != 0 {
		m |= windows.FILE_GENERIC_WRITE
	}
	if m&windows.GENERIC_EXECUTE != 0 {
		m |= windows.FILE_GENERIC_EXECUTE
	}
	return m
}

// account names sid for a message: DOMAIN\name where Windows knows it,
// and the SID string either way.
func account(sid *windows.SID) string {
	if name, domain, _, err := sid.LookupAccount(""); err == nil && name != "" {
		if domain != "" {
			name = domain + `\` + name
		}
		return name + " (" + sid.String() + ")"
	}
	return sid.String()
}
