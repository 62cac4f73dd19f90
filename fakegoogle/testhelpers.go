package fakegoogle

import (
	"errors"
	"fmt"
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
