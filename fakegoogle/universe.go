package fakegoogle

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Universe domains (Options.UniverseDomain). Google Cloud has universes
// besides googleapis.com whose APIs have the same names under another
// domain. What differs there, as Google's client libraries show it (they
// are the only public description; see docs/universe-domains.md):
//
//   - There is no OAuth token endpoint for service-account keys: every
//     library signs its own JWT instead ("For non-GDU universe domains,
//     token exchange is impossible and services must support self-signed
//     JWTs", cloud.google.com/go/auth credentials/filetypes.go). The fake's
//     token endpoint refuses their assertions.
//   - APIs accept those self-signed JWTs (AIP-4111): signed by one of the
//     account's keys, iss = sub = its email, at most an hour long, and
//     either aud "https://{api}.{universe}/" or a scope claim. The fake
//     accepts them in every universe, at every API it serves.
//   - A key's ID tokens come from generateIdToken on the account itself,
//     which needs roles/iam.serviceAccountTokenCreator on itself:
//     DefaultServiceAccount has it in such a fake, so the flow works
//     without setup.

// UniverseDomain returns the universe the fake stands for
// (Options.UniverseDomain, default "googleapis.com").
func (s *Server) UniverseDomain() string { return s.universe }

// serviceName is an API's host name in the fake's universe, e.g.
// "iamcredentials.googleapis.com"; Google uses it as the service in error
// details and as the audience of self-signed JWTs.
func (s *Server) serviceName(api string) string { return api + "." + s.universe }

func (s *Server) defaultUniverse() bool { return s.universe == endpoints.DefaultUniverse }

// addUniverseGrants lets DefaultServiceAccount call generateIdToken on
// itself outside googleapis.com, where that is how its key gets ID tokens.
func (s *Server) addUniverseGrants() error {
	if s.defaultUniverse() {
		return nil
	}
	return s.GrantTokenCreator(DefaultServiceAccount, DefaultServiceAccount)
}

// descNoTokenEndpoint is the token endpoint's answer to a service-account
// assertion outside googleapis.com [?: Google has no such endpoint there;
// the text says what every client library does instead].
const descNoTokenEndpoint = "Service account keys of this universe domain cannot be exchanged for access tokens; " +
	"sign a JWT with the key and send it as the bearer token (self-signed JWT)."

// selfSignedGrant returns what tok stands for if it is a self-signed JWT the
// fake accepts at the API m names, and false otherwise; why says what is
// wrong, for the log.
func (s *Server) selfSignedGrant(tok string, m apiMethod) (g *accessGrant, why string) {
	jwt, err := parseJWT(tok)
	if err != nil {
		return nil, "not a JWT"
	}
	var c assertionClaims
	if err := json.Unmarshal(jwt.payload, &c); err != nil {
		return nil, "malformed claims"
	}
	info, keys, ok := s.accountKeys(c.Iss) // token.go
	switch {
	case !ok:
		return nil, "iss is no service account of the fake"
	case c.Sub != c.Iss:
		return nil, "sub is not iss"
	case !jwt.verifyWith(keys):
		return nil, "signature is not by a key of " + c.Iss
	case info.Disabled:
		return nil, "the service account is disabled"
	case !assertionTimely(c.Iat, c.Exp, s.now()):
		return nil, "iat and exp are not a current window of at most an hour"
	}
	scopes := expandScopes(c.Scope)
	if auds := c.audiences(); len(auds) > 0 && auds[0] != "" {
		if want := "https://" + m.service + "/"; !slices.Contains(auds, want) && !slices.Contains(auds, strings.TrimSuffix(want, "/")) {
			return nil, "aud is not " + want
		}
		if len(scopes) == 0 {
			scopes = m.scopes // an audience JWT is good for its whole API
		}
	} else if len(scopes) == 0 {
		return nil, "neither aud nor scope"
	}
	return &accessGrant{clientID: info.UniqueID, subject: info.UniqueID, email: info.Email,
		scopes: scopes, expiry: time.Unix(int64(*c.Exp), 0)}, ""
}
