package cli

import (
	"testing"

	"golang.org/x/sys/windows"

	"github.com/gcptoken/gcptoken/internal/winacl"
)

// letOthersWrite lets Everyone add and remove files in dir (the DACL
// counterpart of chmod 0777).
func letOthersWrite(t *testing.T, dir string) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	nsd, err := windows.SecurityDescriptorFromString(sd.String() + "(A;OICI;FA;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := nsd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
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
