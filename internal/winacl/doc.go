// Package winacl gives files and directories on Windows what mode 0600 and
// 0700 give them on Unix, and checks that they have it: a protected DACL
// (nothing inherited from the parent) granting full control to the current
// user, SYSTEM and the Administrators group, and nobody else.
//
// SYSTEM and Administrators are there because Windows' own private places
// grant them too (a profile's AppData, %TEMP%), and because OpenSSH for
// Windows accepts exactly these three on a private key: an administrator
// can take ownership of any file anyway, as root can read any 0600 file,
// and leaving them out only breaks backup and antivirus tools running as
// SYSTEM.
//
// The package is empty on other platforms.
package winacl
