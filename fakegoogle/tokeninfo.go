package fakegoogle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// tokeninfoRequest extracts the token from a tokeninfo request: the
// access_token or id_token parameter (query or form), or, as Node sends it,
// "Authorization: Bearer <access token>" with an empty body.
func tokeninfoRequest(r *http.Request) (token string, isID bool) {
	if t := r.Form.Get("id_token"); t != "" {
		return t, true
	}
	if t := r.Form.Get("access_token"); t != "" {
		return t, false
	}
	if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest), false
	}
	return "", false
}

func (s *Server) invalidTokeninfo(w http.ResponseWriter, r *http.Request) {
	s.log.Debug("fakegoogle: tokeninfo for an invalid token", "path", r.URL.Path)
	writeJSON(w, http.StatusBadRequest, contentTypeGoogle, oauthError{Error: "invalid_token", Description: "Invalid Value"})
}

// accessTokenInfo is the v3 answer for an access token. Every value is a
// string, as at Google.
type accessTokenInfo struct {
	Azp           string `json:"azp"`
	Aud           string `json:"aud"`
	Sub           string `json:"sub"`
	Scope         string `json:"scope"`
	Exp           string `json:"exp"`
	ExpiresIn     string `json:"expires_in"`
	Email         string `json:"email,omitempty"`
	EmailVerified string `json:"email_verified,omitempty"`
	AccessType    string `json:"access_type"`
	// AccessBoundary is fake-only: the Credential Access Boundary of a
	// downscoped token (STS), as the JSON text of the accessBoundary
	// object. Google's tokeninfo does not say whether a token is
	// downscoped; the fake does, so that tests can see it.
	AccessBoundary string `json:"access_boundary,omitempty"`
}

// handleTokeninfoV3 serves /tokeninfo and /oauth2/v3/tokeninfo.
func (s *Server) handleTokeninfoV3(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	tok, isID := tokeninfoRequest(r)
	if isID {
		info, err := s.idTokenInfo(tok)
		if err != nil {
			s.invalidTokeninfo(w, r)
			return
		}
		writeJSON(w, http.StatusOK, contentTypeGoogle, info)
		return
	}
	a, ok := s.lookupAccess(tok)
	if !ok {
		s.invalidTokeninfo(w, r)
		return
	}
	exp := a.expiry.Unix()
	info := accessTokenInfo{
		Azp: a.clientID, Aud: a.clientID, Sub: a.subject,
		Scope:          strings.Join(a.scopes, " "),
		Exp:            strconv.FormatInt(exp, 10),
		ExpiresIn:      strconv.FormatInt(max(exp-s.now().Unix(), 0), 10),
		AccessType:     accessType(a),
		AccessBoundary: a.boundary,
	}
	if slices.Contains(a.scopes, scopeEmail) {
		info.Email, info.EmailVerified = a.email, "true"
	}
	writeJSON(w, http.StatusOK, contentTypeGoogle, info)
}

func accessType(a *accessGrant) string {
	if a.offline {
		return "offline"
	}
	return "online"
}

// idTokenInfo verifies an ID token signed by the fake and returns its
// claims with every value as a string, plus the header's alg, kid and typ.
func (s *Server) idTokenInfo(tok string) (map[string]string, error) {
	claims, jwt, err := s.verifyIDToken(tok)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range claims {
		switch v := v.(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		default: // nested objects and arrays: their JSON text
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	out["alg"] = jwt.header(jwt.alg)
	out["kid"] = jwt.header(jwt.kid)
	if jwt.typ != nil {
		out["typ"] = *jwt.typ
	}
	return out, nil
}

// verifyIDToken checks that tok is an unexpired ID token signed by one of
// the fake's signing keys and returns its claims (numbers as json.Number).
func (s *Server) verifyIDToken(tok string) (map[string]any, *parsedJWT, error) {
	jwt, err := parseJWT(tok)
	if err != nil {
		return nil, nil, err
	}
	if !jwt.verifyWith(s.signingKeys()) {
		return nil, jwt, errBadSignature
	}
	claims, err := decodeClaims(jwt.payload)
	if err != nil {
		return nil, jwt, err
	}
	exp, ok := claims["exp"].(json.Number)
	if !ok {
		return nil, jwt, errors.New("no exp claim")
	}
	e, err := exp.Float64()
	if err != nil || e <= float64(s.now().UnixNano())/1e9 {
		return claims, jwt, errExpired
	}
	return claims, jwt, nil
}

var (
	errBadSignature = errors.New("signature does not verify with the fake's signing keys")
	errExpired      = errors.New("token expired")
)

func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	return m, nil
}

// accessTokenInfoV2 is the legacy /oauth2/v2/tokeninfo shape; expires_in is
// a number here.
type accessTokenInfoV2 struct {
	IssuedTo      string `json:"issued_to"`
	Audience      string `json:"audience"`
	UserID        string `json:"user_id,omitempty"`
	Scope         string `json:"scope,omitempty"`
	ExpiresIn     int64  `json:"expires_in"`
	Email         string `json:"email,omitempty"`
	VerifiedEmail bool   `json:"verified_email,omitempty"`
	AccessType    string `json:"access_type,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	IssuedAt      int64  `json:"issued_at,omitempty"`
	// AccessBoundary is fake-only, as in accessTokenInfo.
	AccessBoundary string `json:"access_boundary,omitempty"`
}

func (s *Server) handleTokeninfoV2(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	tok, isID := tokeninfoRequest(r)
	now := s.now().Unix()
	if isID {
		claims, _, err := s.verifyIDToken(tok)
		if err != nil {
			s.invalidTokeninfo(w, r)
			return
		}
		str := func(k string) string { v, _ := claims[k].(string); return v }
		num := func(k string) int64 { n, _ := claims[k].(json.Number); i, _ := n.Int64(); return i }
		verified, _ := claims["email_verified"].(bool)
		writeJSON(w, http.StatusOK, contentTypeGoogle, accessTokenInfoV2{
			IssuedTo: str("azp"), Audience: str("aud"), UserID: str("sub"),
			ExpiresIn: max(num("exp")-now, 0), Email: str("email"), VerifiedEmail: verified,
			Issuer: str("iss"), IssuedAt: num("iat"),
		})
		return
	}
	a, ok := s.lookupAccess(tok)
	if !ok {
		s.invalidTokeninfo(w, r)
		return
	}
	info := accessTokenInfoV2{
		IssuedTo: a.clientID, Audience: a.clientID, UserID: a.subject,
		Scope: strings.Join(a.scopes, " "), ExpiresIn: max(a.expiry.Unix()-now, 0),
		AccessType: accessType(a), AccessBoundary: a.boundary,
	}
	if slices.Contains(a.scopes, scopeEmail) {
		info.Email, info.VerifiedEmail = a.email, true
	}
	writeJSON(w, http.StatusOK, contentTypeGoogle, info)
}
