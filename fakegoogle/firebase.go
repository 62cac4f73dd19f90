package fakegoogle

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Firebase Authentication's ID tokens are signed by the Google-owned
// service account securetoken@system.gserviceaccount.com, whose public keys
// Google publishes like any service account's
// (www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com,
// which Python's verify_firebase_token and the Firebase Admin SDKs fetch,
// and the JWK form at /service_accounts/v1/jwk/…). The fake has such an
// account with its own keys, and mints Firebase ID tokens with them, so
// that a Firebase verifier can be tested end to end.

// SecureTokenServiceAccount is the account that signs Firebase ID tokens.
const SecureTokenServiceAccount = "securetoken@system.gserviceaccount.com"

// firebaseTokenLifetime is the lifetime of Firebase ID tokens (one hour).
const firebaseTokenLifetime = time.Hour

// firebaseClaims are a Firebase ID token's claims, in the order Firebase
// writes them.
type firebaseClaims struct {
	Iss      string          `json:"iss"`
	Aud      string          `json:"aud"`
	AuthTime int64           `json:"auth_time"`
	UserID   string          `json:"user_id"`
	Sub      string          `json:"sub"`
	Iat      int64           `json:"iat"`
	Exp      int64           `json:"exp"`
	Email    string          `json:"email,omitempty"`
	Verified bool            `json:"email_verified,omitempty"`
	Firebase firebaseContext `json:"firebase"`
}

type firebaseContext struct {
	Identities     map[string][]string `json:"identities"`
	SignInProvider string              `json:"sign_in_provider"`
}

// MintFirebaseIDToken returns a Firebase Authentication ID token for the
// user uid of the Firebase project projectID (aud projectID, iss
// https://securetoken.google.com/PROJECT), signed with a key of
// SecureTokenServiceAccount. email may be empty; with an email the sign-in
// provider is "password", else "custom".
func (s *Server) MintFirebaseIDToken(projectID, uid, email string) (string, error) {
	if projectID == "" || uid == "" || len(uid) > 128 {
		return "", errors.New("fakegoogle: mint Firebase ID token: need a project id and a uid of 1 to 128 characters")
	}
	now := s.now().Unix()
	c := firebaseClaims{
		Iss: "https://securetoken.google.com/" + projectID, Aud: projectID, AuthTime: now, UserID: uid, Sub: uid,
		Iat: now, Exp: now + int64(firebaseTokenLifetime/time.Second),
		Firebase: firebaseContext{Identities: map[string][]string{}, SignInProvider: "custom"},
	}
	if email != "" {
		c.Email, c.Verified = email, true
		c.Firebase = firebaseContext{Identities: map[string][]string{"email": {email}}, SignInProvider: "password"}
	}
	keys := s.systemKeys(SecureTokenServiceAccount)
	tok, err := signJWT(keys[0], c)
	if err != nil {
		return "", fmt.Errorf("fakegoogle: mint Firebase ID token: %w", err)
	}
	return tok, nil
}

// systemKeys returns the keys of a Google-owned account (the fake has one:
// SecureTokenServiceAccount), or nil.
func (s *Server) systemKeys(email string) []*rsaKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.system[email])
}
