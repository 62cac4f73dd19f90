package fakegoogle

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// CertsURL returns the URL of the fake's ID-token signing keys as a JWKS,
// BaseURL()+"/oauth2/v3/certs": what a verifier under test is pointed at
// instead of https://www.googleapis.com/oauth2/v3/certs.
func (s *Server) CertsURL() string {
	return s.BaseURL() + "/oauth2/v3/certs"
}

// MintIDToken returns an ID token for audience as the token endpoint
// issues it to serviceAccount's key (iss https://accounts.google.com, sub
// the account's unique id, azp and email the account's email,
// email_verified, an hour's lifetime on the fake's clock), signed by the
// fake's current key. Tests of services use it to make callers' tokens
// without a credential.
func (s *Server) MintIDToken(serviceAccount, audience string) (string, error) {
	if audience == "" {
		return "", errors.New("fakegoogle: MintIDToken: the audience is empty")
	}
	sa, ok := s.ServiceAccount(serviceAccount)
	if !ok {
		return "", fmt.Errorf("fakegoogle: MintIDToken: no service account %q (AddServiceAccount makes one)", serviceAccount)
	}
	if sa.Disabled {
		return "", fmt.Errorf("fakegoogle: MintIDToken: service account %q is disabled", serviceAccount)
	}
	iat := s.now().Unix()
	return signJWT(s.signingKey(), idTokenClaims{
		Aud: audience, Azp: sa.Email, Email: sa.Email, EmailVerified: true,
		Exp: iat + int64(s.lifetime/time.Second), Iat: iat, Iss: googleIssuer, Sub: sa.UniqueID,
	})
}

// MintAccessToken returns an access token of serviceAccount for scopes, and
// its expiry on the fake's clock, as the metadata server of a VM running as
// the account hands them out: the kind the token endpoint issues, which
// tokeninfo and the fake's APIs know. Scopes may use the aliases "email"
// and "profile"; unknown ones are refused, as Google would. The emulator's
// metadata server uses it outside googleapis.com, where a key cannot be
// exchanged for an access token.
func (s *Server) MintAccessToken(serviceAccount string, scopes []string) (string, time.Time, error) {
	scope := strings.Join(scopes, " ")
	sa, ok := s.ServiceAccount(serviceAccount)
	switch {
	case !ok:
		return "", time.Time{}, fmt.Errorf("fakegoogle: MintAccessToken: no service account %q (AddServiceAccount makes one)", serviceAccount)
	case sa.Disabled:
		return "", time.Time{}, fmt.Errorf("fakegoogle: MintAccessToken: service account %q is disabled", serviceAccount)
	case len(expandScopes(scope)) == 0:
		return "", time.Time{}, errors.New("fakegoogle: MintAccessToken: no scopes")
	}
	if bad := s.unknownScopes(scope); len(bad) > 0 {
		return "", time.Time{}, fmt.Errorf("fakegoogle: MintAccessToken: unknown scopes %q (AllowScopes adds one)", bad)
	}
	exp := s.now().Add(time.Duration(s.expiresIn()) * time.Second)
	tok := "ya29.c." + randomToken(96)
	s.storeAccess(tok, &accessGrant{clientID: sa.UniqueID, subject: sa.UniqueID, email: sa.Email,
		scopes: expandScopes(scope), expiry: exp})
	return tok, exp, nil
}
