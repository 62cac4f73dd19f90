package winacl

import (
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// TestCheckGrants reads descriptors in SDDL: the private one passes; one
// that lets Everyone, Users or a stranger read or write fails, and so does
// one without a DACL; entries that only children inherit, deny entries and
// rights that only show a file's attributes do not count.
func TestCheckGrants(t *testing.T) {
	t.Parallel()
	id, err := me()
	if err != nil {
		t.Fatal(err)
	}
	user := id.user.String()
	tests := []struct {
		name, sddl string
		mask       windows.ACCESS_MASK
		wantErr    string
	}{
		{"private", "D:P(A;OICI;FA;;;" + user + ")(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", ReadOrWrite, ""},
		{"Everyone reads", "D:(A;;FA;;;" + user + ")(A;;FR;;;WD)", ReadOrWrite, "S-1-1-0"},
		{"Users write", "D:(A;;FA;;;" + user + ")(A;;FW;;;BU)", ReadOrWrite, "S-1-5-32-545"},
		{"generic all for a stranger", "D:(A;;GA;;;S-1-5-21-1-2-3-4242)", ReadOrWrite, "S-1-5-21-1-2-3-4242"},
		{"no DACL", "O:" + user, ReadOrWrite, "no access control list"},
		{"inherit-only", "D:(A;;FA;;;" + user + ")(A;OICIIO;FA;;;WD)", ReadOrWrite, ""},
		{"deny", "D:(D;;FA;;;WD)(A;;FA;;;" + user + ")", ReadOrWrite, ""},
		{"attributes only", "D:(A;;0x100080;;;WD)", ReadOrWrite, ""}, // FILE_READ_ATTRIBUTES|SYNCHRONIZE
		{"adding subfolders to a parent", "D:(A;;0x100004;;;AU)", ReplaceChild, ""},
		{"deleting children of a parent", "D:(A;;0x40;;;AU)", ReplaceChild, "S-1-5-11"},
		{"writing a cache directory", "D:(A;;0x2;;;WD)", WriteDir, "S-1-1-0"},
	}
	for _, tt := range tests {
		sd, err := windows.SecurityDescriptorFromString(tt.sddl)
		if err != nil {
			t.Fatalf("%s: %v", tt.sddl, err)
		}
		err = (&Descriptor{sd: sd}).CheckGrants(tt.mask)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: CheckGrants = %v; want nil", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: CheckGrants = %v; want an error naming %s", tt.name, err, tt.wantErr)
		}
	}
}

// TestCheckOwner: the current user owns what it makes; SYSTEM owns it only
// where systemToo allows (a parent directory).
func TestCheckOwner(t *testing.T) {
	t.Parallel()
	id, err := me()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		owner     string
		systemToo bool
		ok        bool
	}{
		{id.user.String(), false, true},
		{"SY", false, false},
		{"SY", true, true},
		{"S-1-5-21-1-2-3-4242", true, false},
	} {
		sd, err := windows.SecurityDescriptorFromString("O:" + tt.owner + "D:")
		if err != nil {
			t.Fatal(err)
		}
		if err := (&Descriptor{sd: sd}).CheckOwner(tt.systemToo); (err == nil) != tt.ok {
			t.Errorf("owner %s, systemToo %v: CheckOwner = %v; want ok = %v", tt.owner, tt.systemToo, err, tt.ok)
		}
	}
}
