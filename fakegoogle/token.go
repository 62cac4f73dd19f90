package fakegoogle

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	grantJWTBearer    = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantRefreshToken = "refresh_token"

	// googleIssuer is the iss of every ID token Google mints.
	googleIssuer = "https://accounts.google.com"
)

// Error texts observed from Google (protocol.md §1).
const (
	descBadSignature   = "Invalid JWT Signature."
	descAccountMissing = "Invalid grant: account not found"
	descRobotDisabled  = "Robot is disabled."
	descTimeframe      = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values and use a clock with skew to account for clock differences between systems."
	descNoScope        = "Invalid OAuth scope or ID token audience provided."
	descDWD            = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
	descDWDUnknownUser = "Invalid email or User ID" // [obs] for a sub naming no user of the domain
	descClientNotFound = "The OAuth client was not found."
	descBadSecret      = "Unauthorized"
	descRefreshRevoked = "Token has been expired or revoked."
)

// googleTokenURLs are the token endpoint URLs clients put in assertion aud:
// Python and Node always send the first, whatever URL they post to.
var googleTokenURLs = []string{
	"https://oauth2.googleapis.com/token",
	"https://accounts.google.com/o/oauth2/token",
	"https://www.googleapis.com/oauth2/v4/token",
}

// tokenResponse is the token endpoint's success body, in Google's field
// order.
type tokenResponse struct {
	AccessToken string `json:"access_token,omitempty"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	Scope       string `json:"scope,omitempty"`
	TokenType   string `json:"token_type,omitempty"`
	IDToken     string `json:"id_token,omitempty"`
}

// idTokenClaims are the claims of the ID tokens the fake mints, in the
// (alphabetical) order Google's carry them.
type idTokenClaims struct {
	AtHash        string `json:"at_hash,omitempty"`
	Aud           string `json:"aud"`
	Azp           string `json:"azp"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Exp           int64  `json:"exp"`
	Iat           int64  `json:"iat"`
	Iss           string `json:"iss"`
	Nonce         string `json:"nonce,omitempty"`
	Sub           string `json:"sub"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case grantJWTBearer:
		s.jwtBearerGrant(w, r)
	case grantRefreshToken:
		s.refreshGrant(w, r)
	case grantAuthorizationCode:
		s.authorizationCodeGrant(w, r) // authorize.go
	case grantDeviceCode:
		s.deviceCodeGrant(w, r) // device.go
	default:
		s.writeOAuthError(w, r, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
}

// writeToken writes a successful token response.
func (s *Server) writeToken(w http.ResponseWriter, resp tokenResponse) {
	w.Header().Set("Cache-Control", noStore)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, contentTypeOAuth, resp)
}

// assertionClaims are the claims the fake reads from a jwt-bearer assertion.
// Unknown claims (prn, custom ones) are ignored, as at Google.
type assertionClaims struct {
	Iss            string          `json:"iss"`
	Sub            string          `json:"sub"`
	Aud            json.RawMessage `json:"aud"`
	Scope          string          `json:"scope"`
	TargetAudience string          `json:"target_audience"`
	Iat            *float64        `json:"iat"`
	Exp            *float64        `json:"exp"`
}

// audiences returns aud as a list; JWT allows a string or an array.
func (c *assertionClaims) audiences() []string {
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	json.Unmarshal(c.Aud, &many)
	return many
}

// refusal is an OAuth error answer of the token endpoint: the steps of a
// grant return one as their error, and the grant writes it (writeRefusal).
type refusal struct {
	status     int
	code, desc string
}

func (e *refusal) Error() string { return e.code + ": " + e.desc }

// oauthRefusal is a 400 refusal, the status of most.
func oauthRefusal(code, desc string) error { return &refusal{http.StatusBadRequest, code, desc} }

// writeRefusal writes err: a *refusal as its OAuth error, anything else as
// an internal failure.
func (s *Server) writeRefusal(w http.ResponseWriter, r *http.Request, err error) {
	var ref *refusal
	if errors.As(err, &ref) {
		s.writeOAuthError(w, r, ref.status, ref.code, ref.desc)
		return
	}
	s.internalError(w, r, err)
}

// jwtBearerGrant implements the service-account grant (protocol.md §1.2,
// §1.3): it checks the assertion in the order Google appears to, and
// returns an access token, or an ID token when target_audience is set.
func (s *Server) jwtBearerGrant(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	c, info, err := s.checkAssertion(r, now)
	var resp tokenResponse
	if err == nil {
		resp, err = s.answerAssertion(c, info, now)
	}
	if err != nil {
		s.writeRefusal(w, r, err)
		return
	}
	s.writeToken(w, resp)
}

// checkAssertion parses the assertion and checks its signer, signature,
// audience and time window; it returns the claims and the signer.
func (s *Server) checkAssertion(r *http.Request, now time.Time) (*assertionClaims, ServiceAccount, error) {
	jwt, c, err := s.parseAssertion(r)
	if err != nil {
		return nil, ServiceAccount{}, err
	}
	info, keys, ok := s.accountKeys(c.Iss)
	switch {
	case !ok:
		return nil, info, oauthRefusal("invalid_grant", descAccountMissing)
	case !jwt.verifyWith(keys):
		return nil, info, oauthRefusal("invalid_grant", descBadSignature)
	case info.Disabled:
		return nil, info, oauthRefusal("invalid_grant", descRobotDisabled)
	case !s.acceptedAudience(r, c.audiences()):
		// Google's text for a wrong aud was not observed; invalid_grant is
		// what every other assertion problem gets.
		return nil, info, oauthRefusal("invalid_grant", fmt.Sprintf("Assertion aud %s is not a token endpoint URL of Google or of this fake (%s/token)", c.Aud, s.baseFor(r)))
	case !assertionTimely(c.Iat, c.Exp, now):
		return nil, info, oauthRefusal("invalid_grant", descTimeframe)
	}
	return c, info, nil
}

// accountKeys returns the service account email and its keys, which sign
// its assertions and self-signed JWTs.
func (s *Server) accountKeys(email string) (ServiceAccount, []*rsaKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sa, ok := s.sas[email]
	if !ok {
		return ServiceAccount{}, nil, false
	}
	return sa.info, slices.Clone(sa.keys), true
}

// parseAssertion reads the assertion parameter. Outside googleapis.com
// there is no token endpoint for it.
func (s *Server) parseAssertion(r *http.Request) (*parsedJWT, *assertionClaims, error) {
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		return nil, nil, oauthRefusal("invalid_request", "Missing required parameter: assertion")
	}
	jwt, err := parseJWT(assertion)
	if err != nil {
		// Google's text for a malformed assertion was not observed.
		return nil, nil, oauthRefusal("invalid_grant", "Malformed assertion: "+err.Error())
	}
	var c assertionClaims
	if err := json.Unmarshal(jwt.payload, &c); err != nil {
		return nil, nil, oauthRefusal("invalid_grant", "Malformed assertion claims: "+err.Error())
	}
	if !s.defaultUniverse() {
		s.log.Debug("fakegoogle: service-account assertion refused outside googleapis.com", "universe", s.universe, "iss", c.Iss)
		return nil, nil, oauthRefusal("invalid_grant", descNoTokenEndpoint) // universe.go
	}
	return jwt, &c, nil
}

// answerAssertion mints what a checked assertion asks for: an ID token
// alone when it has target_audience, even with a scope too (Node sends
// both), else an access token, for a delegated user when sub names one.
func (s *Server) answerAssertion(c *assertionClaims, info ServiceAccount, now time.Time) (tokenResponse, error) {
	scopes := expandScopes(c.Scope)
	dwdUser, err := s.delegatedUser(c, info, scopes)
	if err != nil {
		return tokenResponse{}, err
	}
	if c.TargetAudience != "" {
		iat := now.Unix()
		idt, err := signJWT(s.signingKey(), idTokenClaims{
			Aud: c.TargetAudience, Azp: info.Email, Email: info.Email, EmailVerified: true,
			Exp: iat + int64(s.lifetime/time.Second), Iat: iat, Iss: googleIssuer, Sub: info.UniqueID,
		})
		if err != nil {
			return tokenResponse{}, err
		}
		s.log.Debug("fakegoogle: issued ID token", "service_account", info.Email, "audience", c.TargetAudience)
		return tokenResponse{IDToken: idt}, nil
	}
	if len(scopes) == 0 || len(s.unknownScopes(c.Scope)) > 0 {
		// [obs] the same text for no scope and for a scope Google does
		// not know.
		s.log.Debug("fakegoogle: refused scopes", "service_account", info.Email, "unknown", s.unknownScopes(c.Scope))
		return tokenResponse{}, oauthRefusal("invalid_scope", descNoScope)
	}
	tok := "ya29.c." + randomToken(96)
	g := &accessGrant{
		clientID: info.UniqueID, subject: info.UniqueID, email: info.Email,
		scopes: scopes, expiry: now.Add(time.Duration(s.expiresIn()) * time.Second),
	}
	if dwdUser != nil {
		// The token acts as the user; azp/aud stay the account's client id.
		g.subject, g.email = dwdUser.Subject, dwdUser.Email
	}
	s.storeAccess(tok, g)
	s.log.Debug("fakegoogle: issued access token", "service_account", info.Email, "subject", g.email, "scopes", scopes)
	return tokenResponse{AccessToken: tok, ExpiresIn: s.expiresIn(), TokenType: "Bearer"}, nil
}

// delegatedUser is the user an assertion's sub names for domain-wide
// delegation (protocol.md §1.2 item 7), or nil without one. Accounts off
// the allow-list, scopes outside it, and ID tokens (DWD is an OAuth
// feature; Google mints no ID token for a subject) all get the same
// observed refusal.
func (s *Server) delegatedUser(c *assertionClaims, info ServiceAccount, scopes []string) (*User, error) {
	if c.Sub == "" || c.Sub == c.Iss {
		return nil, nil
	}
	if c.TargetAudience != "" || !s.dwdAllowed(info.Email, scopes) {
		s.log.Debug("fakegoogle: domain-wide delegation refused", "service_account", info.Email, "scopes", scopes, "id_token", c.TargetAudience != "")
		return nil, &refusal{http.StatusUnauthorized, "unauthorized_client", descDWD}
	}
	u, ok := s.findUser(c.Sub)
	if !ok {
		return nil, oauthRefusal("invalid_grant", descDWDUnknownUser)
	}
	return &u, nil
}

// expiresIn is what Google reports: one second less than the lifetime.
func (s *Server) expiresIn() int64 { return int64((s.lifetime - time.Second) / time.Second) }

// acceptedAudience reports whether an assertion aud names a token endpoint:
// Google's (Python and Node hard-code it) or the fake's own (Go's libraries
// use the key file's token_uri).
func (s *Server) acceptedAudience(r *http.Request, auds []string) bool {
	base := s.baseFor(r)
	for _, a := range auds {
		if slices.Contains(googleTokenURLs, a) ||
			a == base+"/token" || a == base+"/o/oauth2/token" || a == base+"/oauth2/v4/token" {
			return true
		}
	}
	return false
}

// Limits of the assertion time window. Google publishes only "60 minutes";
// the allowed skew is a guess (protocol.md §1.2).
const (
	maxAssertionLifetime = 3600
	maxAssertionSkew     = 300
)

// assertionTimely applies the time window: both claims present, exp after
// iat and after now, exp-iat at most an hour, iat not more than the skew in
// the future.
func assertionTimely(iat, exp *float64, now time.Time) bool {
	if iat == nil || exp == nil {
		return false
	}
	n := float64(now.UnixNano()) / 1e9
	return *exp > *iat && *exp-*iat <= maxAssertionLifetime && *iat <= n+maxAssertionSkew && *exp > n
}

// signingKey is the key new ID tokens are signed with.
func (s *Server) signingKey() *rsaKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signing[0]
}

// signingKeys returns all published signing keys.
func (s *Server) signingKeys() []*rsaKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signing)
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("fakegoogle: internal error", "path", r.URL.Path, "err", err)
	s.writeOAuthError(w, r, http.StatusInternalServerError, "internal_failure", err.Error())
}

// clientCredentials returns the client id and secret from HTTP Basic auth
// (client_secret_basic) or the form (client_secret_post). Basic values are
// URL-escaped before encoding (RFC 6749 §2.3.1; Go's StyleInHeader does it).
func clientCredentials(r *http.Request) (id, secret string, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return "", "", fmt.Errorf("unsupported Authorization scheme %q", scheme)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
		if err != nil {
			return "", "", fmt.Errorf("bad Basic credentials: %v", err)
		}
		rawID, rawSecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return "", "", fmt.Errorf("bad Basic credentials: no colon")
		}
		if id, err = url.QueryUnescape(rawID); err != nil {
			return "", "", fmt.Errorf("bad Basic client id: %v", err)
		}
		if secret, err = url.QueryUnescape(rawSecret); err != nil {
			return "", "", fmt.Errorf("bad Basic client secret: %v", err)
		}
		return id, secret, nil
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), nil
}

// refreshGrant implements grant_type=refresh_token (protocol.md §1.4).
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	req, err := s.checkRefresh(r)
	var resp tokenResponse
	if err == nil {
		resp, err = s.answerRefresh(req, now)
	}
	if err != nil {
		s.writeRefusal(w, r, err)
		return
	}
	s.log.Debug("fakegoogle: refreshed user token", "user", req.user.Email, "client_id", req.clientID, "scopes", req.scopes)
	s.writeToken(w, resp)
}

// refreshRequest is a checked refresh: the client, the refresh token and
// its grant and user, and the scopes asked for.
type refreshRequest struct {
	clientID, token string
	grant           *refreshGrant
	user            User
	scopes          []string
}

// tokenClient returns the client id and secret of a token request, which
// must name a client.
func tokenClient(r *http.Request) (id, secret string, err error) {
	id, secret, err = clientCredentials(r)
	if err != nil {
		return "", "", oauthRefusal("invalid_request", err.Error())
	}
	if id == "" {
		return "", "", oauthRefusal("invalid_request", "Could not determine client ID from request.")
	}
	return id, secret, nil
}

// checkRefresh checks the client, the refresh token and the scope asked
// for.
func (s *Server) checkRefresh(r *http.Request) (*refreshRequest, error) {
	clientID, secret, err := tokenClient(r)
	if err != nil {
		return nil, err
	}
	req := &refreshRequest{clientID: clientID, token: r.PostForm.Get("refresh_token")}
	s.mu.Lock()
	wantSecret, okClient := s.clients[clientID]
	g, okToken := s.refresh[req.token]
	if okToken {
		if u, ok := s.users[g.userEmail]; ok {
			req.user = *u
		}
	}
	s.mu.Unlock()
	if err := clientRefusal(okClient, secret, wantSecret); err != nil {
		return nil, err
	}
	switch {
	case req.token == "":
		return nil, oauthRefusal("invalid_request", "Missing required parameter: refresh_token")
	case !okToken || g.clientID != clientID || req.user.Email == "":
		return nil, oauthRefusal("invalid_grant", descRefreshRevoked)
	}
	req.grant, req.scopes = g, g.scopes
	// A narrower scope may be asked for (RFC 6749 §6); the token then
	// carries only that.
	if asked := r.PostForm.Get("scope"); asked != "" {
		req.scopes = expandScopes(asked)
		for _, sc := range req.scopes {
			if !slices.Contains(g.scopes, sc) {
				// [?] Google's description; the code is RFC 6749 §6's.
				return nil, oauthRefusal("invalid_scope", fmt.Sprintf("The scope %s was not granted to this refresh token.", sc))
			}
		}
	}
	return req, nil
}

// answerRefresh mints the access token, and an ID token when the grant
// has openid.
func (s *Server) answerRefresh(req *refreshRequest, now time.Time) (tokenResponse, error) {
	tok := "ya29.a0" + randomToken(96)
	s.storeAccess(tok, &accessGrant{
		clientID: req.clientID, subject: req.user.Subject, email: req.user.Email,
		scopes: req.scopes, expiry: now.Add(time.Duration(s.expiresIn()) * time.Second), offline: true, refresh: req.token,
	})
	resp := tokenResponse{AccessToken: tok, ExpiresIn: s.expiresIn(), Scope: strings.Join(req.scopes, " "), TokenType: "Bearer"}
	if !slices.Contains(req.grant.scopes, scopeOpenID) {
		return resp, nil
	}
	var err error
	resp.IDToken, err = s.userIDToken(tok, req.clientID, "", req.user, req.grant.scopes, now)
	return resp, err
}

// userIDToken is the ID token the token endpoint returns beside tok, a
// user's access token for clientID: with at_hash, the nonce of the
// authorization request if any, and the email when scopes have it.
func (s *Server) userIDToken(tok, clientID, nonce string, user User, scopes []string, now time.Time) (string, error) {
	iat := now.Unix()
	c := idTokenClaims{
		AtHash: atHash(tok), Aud: clientID, Azp: clientID,
		Exp: iat + int64(s.lifetime/time.Second), Iat: iat, Iss: googleIssuer, Nonce: nonce, Sub: user.Subject,
	}
	if slices.Contains(scopes, scopeEmail) {
		c.Email, c.EmailVerified = user.Email, true
	}
	return signJWT(s.signingKey(), c)
}

// hasIdentityScope reports whether scopes make a code or device exchange
// return an ID token. Google: "only returned if your request included an
// identity scope, such as openid, profile, or email".
func hasIdentityScope(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(sc string) bool { return sc == scopeOpenID || sc == scopeEmail || sc == scopeProfile })
}

// clientRefusal refuses an unknown client or a wrong secret; nil when
// both are right.
func clientRefusal(known bool, secret, want string) error {
	switch {
	case !known:
		return &refusal{http.StatusUnauthorized, "invalid_client", descClientNotFound}
	case secret != want:
		return &refusal{http.StatusUnauthorized, "invalid_client", descBadSecret}
	}
	return nil
}

// atHash is the OpenID Connect access-token hash: the left half of the
// SHA-256 of the token, base64url.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64.EncodeToString(sum[:len(sum)/2])
}
