// Package gcptoken is the core of gcptoken: the Token type shared by access
// tokens and ID tokens, the TokenProvider interface every credential source
// implements, and the one caching wrapper (NewCachedProvider) that adds early
// refresh, coalescing of concurrent refreshes and retries of transient
// failures on top of a plain source.
//
// Credential sources live in the credentials package; the fake of Google's
// auth endpoints used by tests and by `gcptoken demo` lives in fakegoogle.
//
// Adapters connect a TokenProvider to the two token interfaces of Google's Go
// ecosystem: cloud.google.com/go/auth.TokenProvider (AuthTokenProvider) and
// golang.org/x/oauth2.TokenSource (OAuth2TokenSource).
package gcptoken
