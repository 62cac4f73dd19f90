package credentials

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
)

// selfSignedLifetime is the lifetime of self-signed JWTs: Google's APIs
// accept at most an hour, and every library signs exactly that.
const selfSignedLifetime = time.Hour

// SelfSignedJWTProvider is SelfSignedJWTSource, cached (as
// AccessTokenProvider's tokens are): a JWT is signed again only shortly
// before the last one expires.
func (c *Credentials) SelfSignedJWTProvider(audience string, scopes []string) (gcptoken.TokenProvider, error) {
	src, err := c.SelfSignedJWTSource(audience, scopes)
	if err != nil {
		return nil, err
	}
	return gcptoken.NewCachedProvider(src, nil)
}

// SelfSignedJWTSource returns a plain source of self-signed JWT access
// tokens of a service-account key: JWTs that Google APIs accept in place of an
// OAuth access token, signed locally with the key and never sent to a token
// endpoint. Give exactly one of audience (the API's audience, e.g.
// "https://pubsub.googleapis.com/") and scopes; the JWT carries it as aud or
// as scope (space-joined). Each Token call signs a new JWT: header
// {"alg":"RS256","typ":"JWT","kid":<private_key_id>}, claims iss = sub =
// the service account's email, iat = now, exp = iat + 1h. Tokens have Kind
// gcptoken.AccessToken and Expiry exp.
//
// Only service-account keys can sign, and not after WithSubject: a
// self-signed JWT cannot act as a user.
func (c *Credentials) SelfSignedJWTSource(audience string, scopes []string) (gcptoken.TokenProvider, error) {
	if c == nil || c.impl == nil {
		return nil, errNotLoaded
	}
	sa, ok := c.impl.(*serviceAccount)
	if !ok {
		return nil, fmt.Errorf("credentials: a self-signed JWT needs a service-account key; %s credentials have none", c.Type)
	}
	if sa.subject != "" {
		return nil, errors.New("credentials: a self-signed JWT cannot act as a user (domain-wide delegation); " +
			"use the credential without WithSubject")
	}
	for _, s := range scopes {
		if s == "" {
			return nil, errors.New("credentials: empty scope")
		}
	}
	switch {
	case audience != "" && len(scopes) > 0:
		return nil, errors.New("credentials: a self-signed JWT carries an audience or scopes, not both")
	case audience == "" && len(scopes) == 0:
		return nil, errors.New("credentials: a self-signed JWT needs an audience (e.g. https://pubsub.googleapis.com/) or scopes")
	}
	return sa.selfSigned(audience, scopes), nil
}

// selfSigned is SelfSignedJWTSource for checked arguments.
func (sa *serviceAccount) selfSigned(audience string, scopes []string) gcptoken.TokenProvider {
	scope := strings.Join(scopes, " ")
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		cl := newClaims(sa.email, sa.email, audience, scope, time.Now())
		jwt, err := sa.sign(cl)
		if err != nil {
			return nil, fmt.Errorf("credentials: sign JWT: %w", err)
		}
		t := &gcptoken.Token{Value: jwt, Type: "Bearer", Kind: gcptoken.AccessToken, Expiry: time.Unix(cl.Exp, 0)}
		if cl.Scope != "" {
			t.Metadata = map[string]string{gcptoken.MetaScope: cl.Scope}
		}
		return checked(t, "the self-signed JWT of "+sa.email)
	})
}

// sign signs claims with the key, naming it in the header.
func (sa *serviceAccount) sign(claims jwtClaims) (string, error) {
	key, err := sa.key()
	if err != nil {
		return "", &credsfile.FieldError{Field: "private_key", Err: err}
	}
	return signRS256(key, jwtHeader{Alg: "RS256", Typ: "JWT", Kid: sa.keyID}, claims)
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid,omitempty"`
}

// jwtClaims are the claims of the JWTs this package builds: self-signed
// access tokens and the JWT-bearer grant's assertions (RFC 7523), signed
// with a key or by IAM signJwt.
type jwtClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub,omitempty"`
	Aud   string `json:"aud,omitempty"`
	Scope string `json:"scope,omitempty"`
	// TargetAudience asks the token endpoint for an ID token instead.
	TargetAudience string `json:"target_audience,omitempty"`
	Iat            int64  `json:"iat"`
	Exp            int64  `json:"exp"`
}

// newClaims are the claims of a JWT valid for selfSignedLifetime from iat:
// the longest Google's APIs accept of a self-signed JWT, and the token
// endpoint of an assertion.
func newClaims(iss, sub, aud, scope string, iat time.Time) jwtClaims {
	return jwtClaims{Iss: iss, Sub: sub, Aud: aud, Scope: scope, Iat: iat.Unix(), Exp: iat.Add(selfSignedLifetime).Unix()}
}

// signRS256 builds a compact JWS signed with RSASSA-PKCS1-v1_5 SHA-256.
//
// It is written here rather than borrowed: cloud.google.com/go/auth signs
// self-signed JWTs in auth/credentials (and its internal jwt package),
// which this package must not import, as it costs the CLI ~200 packages.
func signRS256(key *rsa.PrivateKey, header jwtHeader, claims jwtClaims) (string, error) {
	h, err := marshalJSON(header)
	if err != nil {
		return "", err
	}
	c, err := marshalJSON(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}

// marshalJSON is json.Marshal without HTML escaping: a scope or audience
// with "&" must reach the server as written.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
