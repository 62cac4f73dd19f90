package fakegoogle

import (
	"net/http"
	"slices"
	"strings"
)

// Google's API front end (ESF) authenticates every googleapis.com API the
// same way: a bearer access token, checked for validity and then for one of
// the method's scopes, with the same texts and ErrorInfo reasons whatever
// the API. apiCaller is that check, shared by IAM Credentials and Resource
// Manager. Besides the access tokens the fake issued, it accepts service
// accounts' self-signed JWTs (universe.go).

// apiMethod names an API method for ErrorInfo metadata and lists the scopes
// that may call it.
type apiMethod struct {
	service string // e.g. "iamcredentials.googleapis.com": Server.serviceName
	rpc     string // e.g. "google.iam.credentials.v1.IAMCredentials.SignJwt"
	scopes  []string
}

// apiCaller returns the grant of the request's bearer token, or the error
// ESF answers with (401 UNAUTHENTICATED, or 403 for a token without one of
// m.scopes), setting WWW-Authenticate as Google does.
func (s *Server) apiCaller(w http.ResponseWriter, r *http.Request, m apiMethod) (*accessGrant, *iamError) {
	meta := map[string]string{"service": m.service, "method": m.rpc}
	unauth := func(reason, msg string) *iamError {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		return &iamError{code: http.StatusUnauthorized, status: "UNAUTHENTICATED", message: msg,
			details: []any{errorInfo{Type: typeErrorInfo, Reason: reason, Domain: "googleapis.com", Metadata: meta}}}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, unauth("CREDENTIALS_MISSING", msgCredentialsMissing)
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, unauth("ACCESS_TOKEN_TYPE_UNSUPPORTED", msgCredentialsInvalid)
	}
	s.mu.Lock()
	a, known := s.access[tok]
	var g accessGrant
	if known {
		g = *a
	}
	expired := known && !s.now().Before(a.expiry)
	s.mu.Unlock()
	switch {
	case expired:
		return nil, unauth("ACCESS_TOKEN_EXPIRED", msgCredentialsInvalid)
	case !known && strings.Count(tok, ".") == 2:
		// A service account's self-signed JWT (universe.go), or an ID
		// token sent by mistake, which gets this reason at Google [obs].
		sg, why := s.selfSignedGrant(tok, m)
		if sg == nil {
			s.log.Debug("fakegoogle: JWT refused as a bearer token", "service", m.service, "why", why)
			return nil, unauth("ACCESS_TOKEN_TYPE_UNSUPPORTED", msgCredentialsInvalid)
		}
		g = *sg
	case !known:
		// Revoked tokens are forgotten, so they land here too.
		return nil, unauth("ACCESS_TOKEN_TYPE_UNSUPPORTED", msgCredentialsInvalid)
	}
	if !slices.ContainsFunc(m.scopes, func(sc string) bool { return slices.Contains(g.scopes, sc) }) {
		// [?] the header's error and scope parameters.
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="`+strings.Join(m.scopes, " ")+`"`)
		return nil, &iamError{code: http.StatusForbidden, status: "PERMISSION_DENIED", message: msgScopeInsufficient,
			details: []any{errorInfo{Type: typeErrorInfo, Reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT", Domain: "googleapis.com", Metadata: meta}}}
	}
	return &g, nil
}
