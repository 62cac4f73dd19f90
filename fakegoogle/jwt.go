package fakegoogle

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// JWTs are encoded and checked by hand rather than through a JOSE library:
// the fake must control the exact header bytes it emits and apply Google's
// own acceptance rules (kid optional, typ optional, only RS256), and an
// independent implementation keeps a bug in a shared library from hiding on
// both sides of the tests.

var b64 = base64.RawURLEncoding

// jwtHeader is the header of a JWT the fake signs. Field order is Google's.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// signJWT signs claims with RS256 and the header {"alg","kid","typ"} that
// Google's ID tokens carry.
func signJWT(key *rsaKey, claims any) (string, error) {
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("fakegoogle: encode claims: %w", err)
	}
	return signJWTPayload(key, p)
}

// signJWTPayload signs payload, a JSON object, as it is: signJwt must not
// reorder or re-escape the caller's claims.
func signJWTPayload(key *rsaKey, payload []byte) (string, error) {
	priv, err := key.private()
	if err != nil {
		return "", err
	}
	h, err := json.Marshal(jwtHeader{Alg: "RS256", Kid: key.kid, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("fakegoogle: sign JWT: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// parsedJWT is a decoded but not yet verified compact JWS.
type parsedJWT struct {
	// header fields; a pointer is nil when the field is absent.
	alg, kid, typ *string
	payload       []byte
	signingInput  string
	signature     []byte
}

var errMalformedJWT = errors.New("not a compact JWT")

// parseJWT splits and decodes a compact JWT without checking the signature.
func parseJWT(tok string) (*parsedJWT, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errMalformedJWT
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", errMalformedJWT, err)
	}
	var h struct {
		Alg *string `json:"alg"`
		Kid *string `json:"kid"`
		Typ *string `json:"typ"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errMalformedJWT, err)
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", errMalformedJWT, err)
	}
	if !json.Valid(pb) || !bytes.HasPrefix(bytes.TrimSpace(pb), []byte("{")) {
		return nil, fmt.Errorf("%w: payload is not a JSON object", errMalformedJWT)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", errMalformedJWT, err)
	}
	return &parsedJWT{
		alg: h.Alg, kid: h.Kid, typ: h.Typ,
		payload:      pb,
		signingInput: parts[0] + "." + parts[1],
		signature:    sig,
	}, nil
}

func (p *parsedJWT) header(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// verifyWith reports whether the signature is a valid RS256 signature by
// one of keys. If the JWT names a kid, only the key with that id is tried;
// with no kid or an empty one, every key is (Node sends no kid, Go's auth
// library may send "").
func (p *parsedJWT) verifyWith(keys []*rsaKey) bool {
	if p.header(p.alg) != "RS256" {
		return false
	}
	kid := p.header(p.kid)
	sum := sha256.Sum256([]byte(p.signingInput))
	for _, k := range keys {
		if kid != "" && k.kid != kid {
			continue
		}
		priv, err := k.private()
		if err != nil {
			continue
		}
		if rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, sum[:], p.signature) == nil {
			return true
		}
	}
	return false
}
