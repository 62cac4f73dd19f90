package fileutil

import (
	"fmt"

	"github.com/gcptoken/gcptoken/internal/winacl"
)

// CheckPrivate refuses a file others may read or write: mode bits for group
// or others on Unix, a DACL granting anyone but the owner, SYSTEM and
// Administrators on Windows. Its error completes "FILE …" and says how to
// fix it.
func CheckPrivate(path string) error {
	d, err := winacl.GetNamed(path)
	if err != nil {
		return err
	}
	if err := d.CheckOwner(false); err != nil {
		return err
	}
	if err := d.CheckGrants(winacl.ReadOrWrite); err != nil {
		return fmt.Errorf("%v: other users can read it; remove their access (icacls %s /inheritance:r /grant:r %%USERNAME%%:F)", err, path)
	}
	return nil
}
