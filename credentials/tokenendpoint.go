package credentials

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/gcptoken/gcptoken"
)

// The one client of OAuth 2.0 token endpoints: Google's (a key's JWT-bearer
// grant, a user's refresh grant, the exchange of an assertion IAM signed)
// and STS (federation's and downscoping's token exchange, a workforce
// user's refresh). As in cloud.google.com/go/auth's
// credentials/internal/stsexchange, each grant is a form built in one
// place, the OAuth client authenticates in the body or in a Basic header,
// and every answer is read by one decoder (tokenReply).
//
// It is written here rather than taken from cloud.google.com/go/auth: its
// 2LO and 3LO providers wrap a cache of their own that gcptoken's must
// defeat, keep the whole answer (refresh token included) in the token, and
// report failures as errors that must be converted; its STS client is
// internal. The grants themselves are a form POST each.

// Grant and token types (RFC 6749, RFC 7523, RFC 8693).
const (
	grantRefreshToken    = "refresh_token"
	grantJWTBearer       = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// tokenEndpoint is one OAuth 2.0 token endpoint and the OAuth client that
// calls it.
type tokenEndpoint struct {
	tokenURL string
	client   *http.Client
	// clientID and clientSecret authenticate the OAuth client, when
	// clientID is set: in the body (client_id, client_secret), or with
	// basicAuth in an HTTP Basic header (client_secret_basic, which STS
	// wants).
	clientID     string
	clientSecret string
	basicAuth    bool
}

// grant posts one grant's form and decodes the answer, which must not
// carry an error. op names the request in errors.
func (e *tokenEndpoint) grant(ctx context.Context, op string, form url.Values) (*oauthAnswer, error) {
	var h http.Header
	switch {
	case e.clientID == "":
	case e.basicAuth:
		// RFC 6749 §2.3.1: both halves are form-encoded first.
		cred := url.QueryEscape(e.clientID) + ":" + url.QueryEscape(e.clientSecret)
		h = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}}
	default:
		form.Set("client_id", e.clientID)
		if e.clientSecret != "" {
			form.Set("client_secret", e.clientSecret)
		}
	}
	body, err := post(ctx, e.client, op, e.tokenURL, contentTypeForm, []byte(form.Encode()), h)
	if err != nil {
		return nil, err
	}
	return e.reply(op).oauth(body)
}

// reply is the decoder of this endpoint's answers to op.
func (e *tokenEndpoint) reply(op string) tokenReply {
	return tokenReply{op: op, endpoint: e.tokenURL}
}

// jwtBearer exchanges a signed assertion (RFC 7523): a key's own, or one
// IAM signed for a delegated subject.
func (e *tokenEndpoint) jwtBearer(ctx context.Context, op, assertion string) (*oauthAnswer, error) {
	return e.grant(ctx, op, url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}})
}

// assertionToken exchanges a signed assertion for an access token.
func (e *tokenEndpoint) assertionToken(ctx context.Context, op, assertion string, rule expiryRule) (*gcptoken.Token, error) {
	a, err := e.jwtBearer(ctx, op, assertion)
	if err != nil {
		return nil, err
	}
	return e.reply(op).accessToken(a, rule, "")
}

// refreshGrant makes one refresh grant (RFC 6749 §6). scopes, if any, narrow
// what the user granted; none means all of it.
func (e *tokenEndpoint) refreshGrant(ctx context.Context, op, refreshToken string, scopes []string) (*oauthAnswer, error) {
	form := url.Values{"grant_type": {grantRefreshToken}, "refresh_token": {refreshToken}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	return e.grant(ctx, op, form)
}

// stsExchange is an RFC 8693 token exchange at STS (protocol.md §7):
// federation exchanges a subject token from the workload's identity,
// downscoping an access token under an access boundary. Empty fields are
// not sent.
type stsExchange struct {
	subjectToken     string
	subjectTokenType string
	audience         string
	scope            string
	// options is JSON: a workforce pool's userProject, or the access
	// boundary.
	options string
}

// exchange makes one token exchange for an access token.
func (e *tokenEndpoint) exchange(ctx context.Context, op string, x stsExchange) (*oauthAnswer, error) {
	form := url.Values{
		"grant_type":           {grantTokenExchange},
		"requested_token_type": {tokenTypeAccessToken},
		"subject_token":        {x.subjectToken},
		"subject_token_type":   {x.subjectTokenType},
	}
	for k, v := range map[string]string{"audience": x.audience, "scope": x.scope, "options": x.options} {
		if v != "" {
			form.Set(k, v)
		}
	}
	return e.grant(ctx, op, form)
}
