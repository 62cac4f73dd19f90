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
		if err := checkValue("ID token", id, endpoint); err != nil {
			return nil, err
		}
		if tok.Metadata == nil {
			tok.Metadata = map[string]string{}
		}
		tok.Metadata[gcptoken.MetaIDToken] = id
	}
	return checked(tok, endpoint)
}

// checked refuses a token whose value is not a bearer token (see
// gcptoken.CheckTokenValue) or whose type is not one word, naming source
// (the endpoint or file it came from). Every token this package decodes
// passes through here or checkValue: a hostile or broken server's "token"
// holding a newline or a shell command must fail where it arrived, before
// anything caches, prints or sends it.
func checked(t *gcptoken.Token, source string) (*gcptoken.Token, error) {
	what := "access token"
	if t.Kind == gcptoken.IDToken {
		what = "ID token"
	}
	if err := checkValue(what, t.Value, source); err != nil {
		return nil, err
	}
	if !isTokenType(t.Type) {
		return nil, fmt.Errorf("%s from %s: %w: its token_type is not one word of letters, digits, '-', '_' or '.'",
			what, source, gcptoken.ErrMalformedToken)
	}
	return t, nil
}

// checkValue is gcptoken.CheckTokenValue with the token's kind and source
// in the error.
func checkValue(what, value, source string) error {
	if err := gcptoken.CheckTokenValue(value); err != nil {
		return fmt.Errorf("%s from %s: %w", what, source, err)
	}
	return nil
}

// isTokenType accepts an OAuth token_type ("Bearer", "bearer", "N_A"), or
// none: it goes before the token in an Authorization header.
func isTokenType(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// idToken makes a Token of a JWT, taking its expiry and real audience from
// its claims. The signature is not checked: the token came straight from the
// issuer over the connection we opened, and verifying is the audience's job.
func idToken(jwt, op, endpoint string) (*gcptoken.Token, error) {
	if err := checkValue("ID token", jwt, endpoint); err != nil {
		return nil, err
	}
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
