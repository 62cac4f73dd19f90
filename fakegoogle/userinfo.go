package fakegoogle

import (
	"net/http"
	"slices"
	"strings"
	"unicode"
)

// The OpenID Connect userinfo endpoint at every address Google publishes:
// openidconnect.googleapis.com/v1/userinfo (the discovery document's
// userinfo_endpoint) and www.googleapis.com/oauth2/v3/userinfo answer with
// OIDC claims; the legacy www.googleapis.com/oauth2/v2/userinfo and
// /oauth2/v1/userinfo (the "oauth2" API) with the older field names. What a
// token gets depends on its scopes, as at Google: sub (v2: id) for openid,
// email and email_verified for userinfo.email, the name and picture for
// userinfo.profile.

// defaultPicture is the picture Google gives accounts without a photo.
const defaultPicture = "https://lh3.googleusercontent.com/a/default-user=s96-c"

// userinfoScopes are the scopes that may read userinfo.
var userinfoScopes = []string{scopeOpenID, scopeEmail, scopeProfile}

// userinfoOIDC is the v3 / openidconnect answer, in Google's field order.
type userinfoOIDC struct {
	Sub           string `json:"sub"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
}

// userinfoV2 is the legacy oauth2 v1/v2 answer.
type userinfoV2 struct {
	ID            string `json:"id"`
	Email         string `json:"email,omitempty"`
	VerifiedEmail bool   `json:"verified_email,omitempty"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Picture       string `json:"picture,omitempty"`
}

// profile is what userinfo says about the subject of a grant.
type profile struct {
	sub, email             string
	name, given, family    string
	picture                string
	withEmail, withProfile bool
}

// profileOf builds the answer for a grant. Users get a name derived from
// their address ("demo-user@…" is "Demo User"); service accounts have none.
func (s *Server) profileOf(g *accessGrant) profile {
	p := profile{sub: g.subject, email: g.email,
		withEmail: slices.Contains(g.scopes, scopeEmail), withProfile: slices.Contains(g.scopes, scopeProfile)}
	if p.withProfile {
		p.picture = defaultPicture
		if u, ok := s.findUser(g.email); ok && u.Subject == g.subject {
			p.given, p.family = namesOf(u.Email)
			p.name = strings.TrimSpace(p.given + " " + p.family)
		}
	}
	return p
}

// namesOf turns the local part of an address into a given and family name.
func namesOf(email string) (given, family string) {
	local, _, _ := strings.Cut(email, "@")
	words := strings.FieldsFunc(local, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	switch len(words) {
	case 0:
		return "", ""
	case 1:
		return words[0], ""
	}
	return strings.Join(words[:len(words)-1], " "), words[len(words)-1]
}

// bearerOrQuery returns the access token of a userinfo request: the
// Authorization header, or the access_token parameter Google also takes.
func bearerOrQuery(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return r.Form.Get("access_token")
}

// handleUserinfoOIDC serves /v1/userinfo and /oauth2/v3/userinfo.
func (s *Server) handleUserinfoOIDC(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	g, ok := s.lookupAccess(bearerOrQuery(r))
	if !ok || !slices.ContainsFunc(userinfoScopes, func(sc string) bool { return slices.Contains(g.scopes, sc) }) {
		// [obs] the body for an invalid token; [?] that a token without a
		// userinfo scope gets the same.
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, contentTypeGoogle, oauthError{Error: "invalid_request", Description: "Invalid Credentials"})
		return
	}
	p := s.profileOf(g)
	out := userinfoOIDC{Sub: p.sub, Name: p.name, GivenName: p.given, FamilyName: p.family, Picture: p.picture}
	if p.withEmail {
		out.Email, out.EmailVerified = p.email, true
	}
	w.Header().Set("Cache-Control", noStore)
	writeJSON(w, http.StatusOK, contentTypeGoogle, out)
}

// handleUserinfoV2 serves /oauth2/v2/userinfo and /oauth2/v1/userinfo,
// authenticated like every googleapis.com API (ESF).
func (s *Server) handleUserinfoV2(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	if r.Header.Get("Authorization") == "" && r.Form.Get("access_token") != "" {
		r.Header.Set("Authorization", "Bearer "+r.Form.Get("access_token"))
	}
	g, e := s.apiCaller(w, r, apiMethod{service: s.serviceName("oauth2"), rpc: "oauth2.userinfo.get", scopes: userinfoScopes})
	if e != nil {
		s.writeIAMError(w, r, e)
		return
	}
	p := s.profileOf(g)
	out := userinfoV2{ID: p.sub, Name: p.name, GivenName: p.given, FamilyName: p.family, Picture: p.picture}
	if p.withEmail {
		out.Email, out.VerifiedEmail = p.email, true
	}
	w.Header().Set("Cache-Control", noStore)
	writeJSON(w, http.StatusOK, contentTypeGoogle, out)
}
