package credentials

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"github.com/gcptoken/gcptoken"
)

// Operations named in *gcptoken.Error.
const (
	opAccessToken = "fetch access token"
	opIDToken     = "fetch ID token"
)

// accessToken converts an access token from cloud.google.com/go/auth,
// keeping only the metadata that is not secret (auth keeps the whole
// response body, refresh token included).
func accessToken(t *auth.Token, op, endpoint string) (*gcptoken.Token, error) {
	if t.Value == "" {
		return nil, fmt.Errorf("%s from %s: the response has no access_token", op, endpoint)
	}
	tok := &gcptoken.Token{Value: t.Value, Type: t.Type, Kind: gcptoken.AccessToken, Expiry: t.Expiry}
	if s := t.MetadataString("scope"); s != "" {
		tok.Metadata = map[string]string{gcptoken.MetaScope: s}
	}
	if id := t.MetadataString("id_token"); id != "" {
		if tok.Metadata == nil {
			tok.Metadata = map[string]string{}
		}
		tok.Metadata[gcptoken.MetaIDToken] = id
	}
	return tok, nil
}

// idToken makes a Token of a JWT, taking its expiry and real audience from
// its claims. The signature is not checked: the token came straight from the
// issuer over the connection we opened, and verifying is the audience's job.
func idToken(jwt, op, endpoint string) (*gcptoken.Token, error) {
	c, err := parseClaims(jwt)
	if err != nil {
		return nil, fmt.Errorf("%s from %s: malformed ID token: %w", op, endpoint, err)
	}
	return &gcptoken.Token{
		Value:    jwt,
		Type:     "Bearer",
		Kind:     gcptoken.IDToken,
		Expiry:   c.exp,
		Metadata: map[string]string{gcptoken.MetaAudience: c.aud},
	}, nil
}

type claims struct {
	aud string
	exp time.Time
}

// parseClaims reads aud and exp from a JWT's payload. Its errors never
// include the token.
func parseClaims(jwt string) (claims, error) {
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	if len(parts) != 3 {
		return claims{}, fmt.Errorf("want 3 dot-separated parts, got %d", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}, errors.New("payload is not base64url")
	}
	var raw struct {
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return claims{}, errors.New("payload is not a JSON object with a numeric exp")
	}
	var c claims
	if raw.Exp != nil {
		c.exp = time.Unix(int64(*raw.Exp), 0)
	}
	if len(raw.Aud) > 0 {
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw.Aud, &one) == nil:
			c.aud = one
		case json.Unmarshal(raw.Aud, &many) == nil:
			c.aud = strings.Join(many, " ")
		default:
			return claims{}, errors.New("aud is neither a string nor a list of strings")
		}
	}
	return c, nil
}
