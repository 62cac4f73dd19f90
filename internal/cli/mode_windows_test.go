package cli

import (
	"testing"

	"golang.org/x/sys/windows"

	"github.com/gcptoken/gcptoken/internal/winacl"
)

// letOthersRead lets Everyone read path (chmod 0644).
func letOthersRead(t *testing.T, path string) {
	t.Helper()
	addACE(t, path, "(A;;FR;;;WD)")
}

// letOthersWrite lets Everyone add and remove files in dir (chmod 0777).
func letOthersWrite(t *testing.T, dir string) {
	t.Helper()
	addACE(t, dir, "(A;OICI;FA;;;WD)")
}

// addACE adds an access control entry, in SDDL, to path's DACL.
func addACE(t *testing.T, path, ace string) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	nsd, err := windows.SecurityDescriptorFromString(sd.String() + ace)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := nsd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
}

// wantPrivateACL fails unless path is owned by the current user and its
// DACL grants nobody else but SYSTEM and Administrators read or write
// access: what 0600 and 0700 are on Unix (internal/winacl; the diskcache
// and fileutil tests read the same back without winacl).
func wantPrivateACL(t *testing.T, path string) {
	t.Helper()
	d, err := winacl.GetNamed(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := d.CheckOwner(false); err != nil {
		t.Errorf("%s %v", path, err)
	}
	if err := d.CheckGrants(winacl.ReadOrWrite); err != nil {
		t.Errorf("%s %v (%s); want it private", path, err, d)
	}
}
