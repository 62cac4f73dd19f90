// Package gitcred is a git credential helper (see gitcredentials(7) and
// git-credential(1)) that answers with Google access tokens: git runs the
// helper with an action (get, store, erase), writes key=value lines
// describing the remote on its stdin and reads username and password lines
// from its stdout, then sends them as HTTP Basic authentication.
//
// [Helper] answers get for https remotes on Google's git hosts (the hosts
// gcloud's own helper serves: source.developers.google.com,
// *.sourcemanager.dev, *.googlesource.com, …) and configured extra hosts,
// with the access token as the password and its expiry as
// password_expiry_utc, so that git 2.41+ never reuses a token another helper
// cached past its expiry. For any other remote it prints nothing, which tells
// git to try its next helper. Tokens are minted, not kept, so store does
// nothing; erase, which git sends when the remote refused the password,
// tells a token cache to forget that token ([Helper].Erase).
//
// Setting git up to use a helper lives here too: [HelperCommand] is the
// credential.helper value (quoted for git's shell, on every platform), and
// the [HelperConfig] interface sets it for hosts, implemented by
// [GlobalConfig], which runs git config --global, and by
// [FakeHelperConfig] for tests of code that configures git.
//
// The protocol is hand-written: it is a dozen lines of key=value parsing and
// no Go library implements the helper side.
package gitcred
