package diskcache

import (
	"os"
	"testing"

	"golang.org/x/sys/windows"
)

func mkfifo(t *testing.T, path string) {
	t.Skip("no FIFOs in Windows file systems (named pipes live in their own namespace)")
}

func fileOwner(os.FileInfo) int { return -1 }

// exposeToOthers adds an entry to path's DACL that lets Everyone read it.
func exposeToOthers(t *testing.T, path string) {
	t.Helper()
	addACE(t, path, "(A;;FR;;;WD)")
}

// addACE adds an access control entry, in SDDL, to path's DACL.
func addACE(t *testing.T, path, ace string) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	sddl := sd.String()
	nsd, err := windows.SecurityDescriptorFromString(sddl + ace)
	if err != nil {
		t.Fatalf("SDDL %q: %v", sddl+ace, err)
	}
	dacl, _, err := nsd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatalf("add %s to the DACL of %s: %v", ace, path, err)
	}
}

// underWine reports whether the test runs under Wine rather than Windows:
// Wine's ntdll exports wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
