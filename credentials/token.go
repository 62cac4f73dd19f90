package credentials

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
)

// Every token this package receives becomes a *gcptoken.Token here, through
// one tokenReply, whatever the endpoint: the OAuth 2.0 token endpoint (the
// JWT-bearer and refresh grants), STS (token exchange and workforce
// refresh), the IAM Credentials API (generateAccessToken, generateIdToken)
// and the metadata server. So each answer is held to the same rules: the
// value is a bearer token and the type one word (checked), the expiry comes
// from expires_in, expireTime or the JWT's exp, and what else the answer
// carries (a refresh token) goes no further.

// Operations named in *gcptoken.Error.
const (
	opAccessToken = "fetch access token"
	opIDToken     = "fetch ID token"
)

// tokenReply reads the answer to one token request. op names the request
// and endpoint where it went, in errors.
type tokenReply struct {
	op, endpoint string
}

// oauthAnswer is the JSON answer of an OAuth 2.0 token endpoint (RFC 6749
// §5.1), of STS (RFC 8693 §2.2.1) and of the metadata server's token path.
type oauthAnswer struct {
	AccessToken     string          `json:"access_token"`
	TokenType       string          `json:"token_type"`
	ExpiresIn       int64           `json:"expires_in"`
	Scope           string          `json:"scope"`
	IDToken         string          `json:"id_token"`
	IssuedTokenType string          `json:"issued_token_type"`
	RefreshToken    string          `json:"refresh_token"`
	Error           json.RawMessage `json:"error"`
}

// oauth decodes an OAuth answer. One that carries an error, even with a
// 2xx status, is the server's refusal (Go's oauth2 reads it so too).
func (r tokenReply) oauth(body []byte) (*oauthAnswer, error) {
	var a oauthAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, r.malformed(err)
	}
	if len(a.Error) > 0 && string(a.Error) != "null" {
		return nil, apiError(r.op, r.endpoint, http.StatusOK, body)
	}
	return &a, nil
}

// expiryRule says what an OAuth answer's expires_in must be.
type expiryRule struct {
	// required refuses an answer without a positive expires_in (federated,
	// delegated and metadata-server tokens must say when they expire, as
	// Google's Go library demands of them). Otherwise such a token has no
	// expiry, and a cache asks again on every use.
	required bool
	// notAfter, when set, caps the expiry and stands in for a missing
	// expires_in: a downscoped token cannot outlive its source.
	notAfter time.Time
}

// accessToken makes the access token of an OAuth answer. scope is the
// granted scope when the answer names none (STS grants what was asked).
func (r tokenReply) accessToken(a *oauthAnswer, rule expiryRule, scope string) (*gcptoken.Token, error) {
	switch {
	case a.AccessToken == "":
		return nil, fmt.Errorf("%s from %s: the response has no access_token", r.op, r.endpoint)
	case a.IssuedTokenType != "" && a.IssuedTokenType != tokenTypeAccessToken:
		return nil, fmt.Errorf("%s from %s: issued_token_type is %q, not an access token", r.op, r.endpoint, trimForError(a.IssuedTokenType))
	case a.ExpiresIn <= 0 && rule.required:
		return nil, fmt.Errorf("%s from %s: the response has no positive expires_in", r.op, r.endpoint)
	}
	t := &gcptoken.Token{Value: a.AccessToken, Type: a.TokenType, Kind: gcptoken.AccessToken, Expiry: rule.notAfter}
	if a.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(time.Duration(a.ExpiresIn) * time.Second)
		if !rule.notAfter.IsZero() && rule.notAfter.Before(t.Expiry) {
			t.Expiry = rule.notAfter
		}
	}
	if s := cmp.Or(a.Scope, scope); s != "" {
		t.Metadata = map[string]string{gcptoken.MetaScope: s}
	}
	if a.IDToken != "" {
		// A user's refresh grant returns one when openid was granted.
		if err := checkValue("ID token", a.IDToken, r.endpoint); err != nil {
			return nil, err
		}
		if t.Metadata == nil {
			t.Metadata = map[string]string{}
		}
		t.Metadata[gcptoken.MetaIDToken] = a.IDToken
	}
	return checked(t, r.endpoint)
}

// idTokenOf makes the ID token of an OAuth answer: the JWT-bearer grant
// with target_audience answers with an id_token alone.
func (r tokenReply) idTokenOf(a *oauthAnswer) (*gcptoken.Token, error) {
	if a.IDToken == "" {
		return nil, fmt.Errorf("%s from %s: the response has no id_token", r.op, r.endpoint)
	}
	return r.jwt(a.IDToken)
}

// iamAccessToken makes the token of a generateAccessToken answer.
func (r tokenReply) iamAccessToken(body []byte) (*gcptoken.Token, error) {
	var a struct {
		AccessToken string `json:"accessToken"`
		ExpireTime  string `json:"expireTime"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, r.malformed(err)
	}
	if a.AccessToken == "" {
		return nil, fmt.Errorf("%s from %s: the response has no accessToken", r.op, r.endpoint)
	}
	exp, err := time.Parse(time.RFC3339, a.ExpireTime)
	if err != nil {
		return nil, fmt.Errorf("%s from %s: the response has no RFC 3339 expireTime", r.op, r.endpoint)
	}
	return checked(&gcptoken.Token{Value: a.AccessToken, Type: "Bearer", Kind: gcptoken.AccessToken, Expiry: exp}, r.endpoint)
}

// iamIDToken makes the token of a generateIdToken answer.
func (r tokenReply) iamIDToken(body []byte) (*gcptoken.Token, error) {
	var a struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, r.malformed(err)
	}
	if a.Token == "" {
		return nil, fmt.Errorf("%s from %s: the response has no token", r.op, r.endpoint)
	}
	return r.jwt(a.Token)
}

// jwt makes a Token of an ID token, taking its expiry and real audience
// from its claims. The signature is not checked: the token came straight
// from the issuer over the connection we opened, and verifying is the
// audience's job.
func (r tokenReply) jwt(value string) (*gcptoken.Token, error) {
	if err := checkValue("ID token", value, r.endpoint); err != nil {
		return nil, err
	}
	c, err := parseClaims(value)
	if err != nil {
		return nil, fmt.Errorf("%s from %s: malformed ID token: %w", r.op, r.endpoint, err)
	}
	return &gcptoken.Token{
		Value:    value,
		Type:     "Bearer",
		Kind:     gcptoken.IDToken,
		Expiry:   c.exp,
		Metadata: map[string]string{gcptoken.MetaAudience: c.aud},
	}, nil
}

// malformed words an answer that is not the JSON expected, without
// quoting it: it may hold a token.
func (r tokenReply) malformed(err error) error {
	return fmt.Errorf("%s from %s: malformed response: %v", r.op, r.endpoint, jsonMessage(err))
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
	if err := gcptoken.CheckTokenType(t.Type); err != nil {
		return nil, fmt.Errorf("%s from %s: %w", what, source, err)
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
