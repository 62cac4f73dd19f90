// Package diskcache is the CLI's on-disk token cache: it lets separate
// gcptoken invocations (and concurrent ones, from scripts and shell prompts)
// reuse a token instead of minting a new one per process.
//
// It is built to avoid the mistakes of older tools' caches:
//
//   - Only the token is stored (value, type, expiry and the "scope" and
//     "audience" metadata), never the credential that minted it: a leaked
//     cache file must not be worth more than the short-lived token inside it.
//   - The file name is a hash (Key) over everything that changes which token
//     is right: the identity, the token kind, scopes, audience and endpoints.
//     The identity is the principal the token will carry — for federated
//     credentials, including a fingerprint of the subject token read — so
//     switching the active identity changes the key.
//   - Each entry records its key, digests of its identity and owner, and
//     the request (kind, scopes, audience); a read serves it only for
//     exactly that, and only a value that is a bearer token: a file copied
//     under another name, a collision or a tampered token is not served.
//   - Entries are written atomically (temporary file, fsync, rename) in a
//     0700 directory as 0600 files, and read back only if they are still
//     private to the current user. The directory must be the user's own,
//     not a symlink, not writable by others, in a parent nobody else
//     controls; all file operations go through its open descriptor, and
//     planted symlinks and special files are refused, never followed. On
//     Windows the owner and the DACL stand in for the owner and mode
//     bits: the directory is made with a protected DACL granting only the
//     user, SYSTEM and Administrators (package winacl), which every entry
//     inherits, and each file is checked against it on every read.
//   - A token inside the caller's refresh window is never served.
//   - Forget and ForgetOwner drop tokens a server refused or whose
//     credential was revoked (credential helpers' erase, logout).
//
// Provider wraps a TokenProvider with the cache and a per-key inter-process
// lock (flock; LockFileEx on Windows), so N processes racing on a cold key
// make one request, not N.
package diskcache
