package fakegoogle

//go:generate go run ../internal/tools/genscopes -out scopes_list.go

import (
	"slices"
	"strings"
)

// Scope checking. Google refuses a scope it does not know with
// invalid_scope; the fake knows the scopes of every Google API (generated
// into scopes_list.go from google.golang.org/api), the OpenID Connect short
// names, and whatever AllowScopes added.

// scopesBeyondDiscovery are scopes Google accepts that no discovery
// document in google.golang.org/api lists, each sent by a client this
// project checks against.
var scopesBeyondDiscovery = []string{
	"https://www.googleapis.com/auth/accounts.reauth",  // gcloud's login scopes (core/config.py)
	"https://www.googleapis.com/auth/iam",              // google-auth's IAM signer and impersonation source
	"https://www.googleapis.com/auth/sqlservice.login", // gcloud's login scopes (Cloud SQL IAM login)
}

// KnownScope reports whether the fake accepts scope: a scope of a Google
// API, "openid", "email", "profile", or one added with AllowScopes.
func (s *Server) KnownScope(scope string) bool {
	switch scope {
	case "openid", "email", "profile":
		return true
	}
	if _, ok := slices.BinarySearch(googleScopes, scope); ok || slices.Contains(scopesBeyondDiscovery, scope) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.extraScopes[scope]
}

// AllowScopes makes the fake accept scopes it does not list (a new API's,
// or a private one), as if Google knew them.
func (s *Server) AllowScopes(scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.extraScopes == nil {
		s.extraScopes = map[string]bool{}
	}
	for _, sc := range scopes {
		s.extraScopes[sc] = true
	}
}

// unknownScopes returns the scopes of a space-separated list the fake does
// not know, in order.
func (s *Server) unknownScopes(scope string) []string {
	var out []string
	for _, sc := range strings.Fields(scope) {
		if !s.KnownScope(sc) {
			out = append(out, sc)
		}
	}
	return out
}
