// Package diskcache is the CLI's on-disk token cache: it lets separate
// gcptoken invocations (and concurrent ones, from scripts and shell prompts)
// reuse a token instead of minting a new one per process.
//
// It is built to avoid the mistakes of older tools' caches:
//
//   - Only the token is stored (value, type, kind, expiry and the "scope" and
//     "audience" metadata), never the credential that minted it: a leaked
//     cache file must not be worth more than the short-lived token inside it.
//   - The file name is a hash (Key) over everything that changes which token
//     is right: the identity, the token kind, scopes, audience and endpoints.
//     An access token is never served for an ID token request, and switching
//     the active ADC identity changes the key.
//   - Entries are written atomically (temporary file, fsync, rename) in a
//     0700 directory as 0600 files, and read back only if they are still
//     private to the current user.
//   - A token inside the caller's refresh window is never served.
//
// Provider wraps a TokenProvider with the cache and a per-key inter-process
// lock, so N processes racing on a cold key make one request, not N.
package diskcache
