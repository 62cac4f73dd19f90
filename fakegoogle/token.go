package fakegoogle

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// jwtBearerGrant implements the service-account grant (protocol.md §1.2,
// §1.3): it checks the assertion in the order Google appears to, and
// returns an access token, or an ID token when target_audience is set.
func (s *Server) jwtBearerGrant(w http.ResponseWriter, r *http.Request) {
	bad := func(code, desc string) { s.writeOAuthError(w, r, http.StatusBadRequest, code, desc) }
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		bad("invalid_request", "Missing required parameter: assertion")
		return
	}
	jwt, err := parseJWT(assertion)
	if err != nil {
		// Google's text for a malformed assertion was not observed.
		bad("invalid_grant", "Malformed assertion: "+err.Error())
		return
	}
	var c assertionClaims
	if err := json.Unmarshal(jwt.payload, &c); err != nil {
		bad("invalid_grant", "Malformed assertion claims: "+err.Error())
		return
	}
	if !s.defaultUniverse() {
		s.log.Debug("fakegoogle: service-account assertion refused outside googleapis.com", "universe", s.universe, "iss", c.Iss)
		bad("invalid_grant", descNoTokenEndpoint) // universe.go
		return
	}
	s.mu.Lock()
	sa, ok := s.sas[c.Iss]
	var info ServiceAccount
	var keys []*rsaKey
	if ok {
		info, keys = sa.info, slices.Clone(sa.keys)
	}
	s.mu.Unlock()
	if !ok {
		bad("invalid_grant", descAccountMissing)
		return
	}
	if !jwt.verifyWith(keys) {
		bad("invalid_grant", descBadSignature)
		return
	}
	if info.Disabled {
		bad("invalid_grant", descRobotDisabled)
		return
	}
	if !s.acceptedAudience(r, c.audiences()) {
		// Google's text for a wrong aud was not observed; invalid_grant is
		// what every other assertion problem gets.
		bad("invalid_grant", fmt.Sprintf("Assertion aud %s is not a token endpoint URL of Google or of this fake (%s/token)", c.Aud, s.baseFor(r)))
		return
	}
	now := s.now()
	if !assertionTimely(c.Iat, c.Exp, now) {
		bad("invalid_grant", descTimeframe)
		return
	}
	scopes := expandScopes(c.Scope)
	var dwdUser *User
	if c.Sub != "" && c.Sub != c.Iss {
		// Domain-wide delegation (protocol.md §1.2 item 7). Accounts off
		// the allow-list, scopes outside it, and ID tokens (DWD is an
		// OAuth feature; Google mints no ID token for a subject) all get
		// the same observed refusal.
		if c.TargetAudience != "" || !s.dwdAllowed(info.Email, scopes) {
			s.log.Debug("fakegoogle: domain-wide delegation refused", "service_account", info.Email, "scopes", scopes, "id_token", c.TargetAudience != "")
			s.writeOAuthError(w, r, http.StatusUnauthorized, "unauthorized_client", descDWD)
			return
		}
		u, ok := s.findUser(c.Sub)
		if !ok {
			bad("invalid_grant", descDWDUnknownUser)
			return
		}
		dwdUser = &u
	}
	if c.TargetAudience != "" {
		// An ID token alone, even when scope is also present (Node sends
		// both).
		iat := now.Unix()
		idt, err := signJWT(s.signingKey(), idTokenClaims{
			Aud: c.TargetAudience, Azp: info.Email, Email: info.Email, EmailVerified: true,
			Exp: iat + int64(s.lifetime/time.Second), Iat: iat, Iss: googleIssuer, Sub: info.UniqueID,
		})
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		s.log.Debug("fakegoogle: issued ID token", "service_account", info.Email, "audience", c.TargetAudience)
		s.writeToken(w, tokenResponse{IDToken: idt})
		return
	}
	if len(scopes) == 0 || len(s.unknownScopes(c.Scope)) > 0 {
		// [obs] the same text for no scope and for a scope Google does
		// not know.
		s.log.Debug("fakegoogle: refused scopes", "service_account", info.Email, "unknown", s.unknownScopes(c.Scope))
		bad("invalid_scope", descNoScope)
		return
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
	s.writeToken(w, tokenResponse{AccessToken: tok, ExpiresIn: s.expiresIn(), TokenType: "Bearer"})
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
	clientID, secret, err := clientCredentials(r)
	if err != nil {
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if clientID == "" {
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", "Could not determine client ID from request.")
		return
	}
	rt := r.PostForm.Get("refresh_token")
	now := s.now()

	s.mu.Lock()
	wantSecret, okClient := s.clients[clientID]
	g, okToken := s.refresh[rt]
	var user User
	if okToken {
		if u, ok := s.users[g.userEmail]; ok {
			user = *u
		}
	}
	s.mu.Unlock()

	switch {
	case !okClient:
		s.writeOAuthError(w, r, http.StatusUnauthorized, "invalid_client", descClientNotFound)
		return
	case secret != wantSecret:
		s.writeOAuthError(w, r, http.StatusUnauthorized, "invalid_client", descBadSecret)
		return
	case rt == "":
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
		return
	case !okToken || g.clientID != clientID || user.Email == "":
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_grant", descRefreshRevoked)
		return
	}

	// A narrower scope may be asked for (RFC 6749 §6); the token then
	// carries only that.
	scopes := g.scopes
	if req := r.PostForm.Get("scope"); req != "" {
		scopes = expandScopes(req)
		for _, sc := range scopes {
			if !slices.Contains(g.scopes, sc) {
				// [?] Google's description; the code is RFC 6749 §6's.
				s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_scope",
					fmt.Sprintf("The scope %s was not granted to this refresh token.", sc))
				return
			}
		}
	}

	tok := "ya29.a0" + randomToken(96)
	s.storeAccess(tok, &accessGrant{
		clientID: clientID, subject: user.Subject, email: user.Email,
		scopes: scopes, expiry: now.Add(time.Duration(s.expiresIn()) * time.Second), offline: true, refresh: rt,
	})
	resp := tokenResponse{AccessToken: tok, ExpiresIn: s.expiresIn(), Scope: strings.Join(scopes, " "), TokenType: "Bearer"}
	if slices.Contains(g.scopes, scopeOpenID) {
		iat := now.Unix()
		c := idTokenClaims{
			AtHash: atHash(tok), Aud: clientID, Azp: clientID,
			Exp: iat + int64(s.lifetime/time.Second), Iat: iat, Iss: googleIssuer, Sub: user.Subject,
		}
		if slices.Contains(g.scopes, scopeEmail) {
			c.Email, c.EmailVerified = user.Email, true
		}
		if resp.IDToken, err = signJWT(s.signingKey(), c); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	s.log.Debug("fakegoogle: refreshed user token", "user", user.Email, "client_id", clientID, "scopes", scopes)
	s.writeToken(w, resp)
}

// atHash is the OpenID Connect access-token hash: the left half of the
// SHA-256 of the token, base64url.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64.EncodeToString(sum[:len(sum)/2])
}
