package fileutil

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// assertPrivate fails unless path's DACL grants nobody but the current
// user, SYSTEM and Administrators anything: what 0600 is on Unix. It reads
// the descriptor as SDDL rather than through winacl, the package that set
// it.
func assertPrivate(t *testing.T, path string) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	me := u.User.Sid.String()
	sddl := sd.String()
	if !strings.HasPrefix(sddl, "O:"+me+"D:") {
		t.Errorf("%s: security descriptor %s; want owner %s and a DACL", path, sddl, me)
	}
	_, dacl, _ := strings.Cut(sddl, "D:")
	allowed := allowedACE.FindAllStringSubmatch(dacl, -1)
	if len(allowed) == 0 {
		t.Errorf("%s: DACL %q allows nobody; want the current user", path, dacl)
	}
	for _, m := range allowed {
		if sid := m[3]; sid != me && sid != "SY" && sid != "BA" && !strings.Contains(m[1], "IO") {
			t.Errorf("%s: DACL %s grants %s %s; want nobody but the user, SYSTEM and Administrators", path, dacl, sid, m[2])
		}
	}
}

// allowedACE matches an access-allowed entry in SDDL: (A;flags;rights;;;SID).
var allowedACE = regexp.MustCompile(`\(A;([^;]*);([^;]*);[^;]*;[^;]*;([^)]*)\)`)
