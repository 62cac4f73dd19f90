package fakegoogle

import (
	"encoding/base64"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// certsMaxAge is how long clients may cache the key endpoints. Google sends
// values between about 19000 and 25000 seconds.
const certsMaxAge = 21600

// jwk is one RSA key of a JWKS, with n and e as unpadded base64url.
type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

func toJWKS(keys []*rsaKey) (jwks, error) {
	out := jwks{Keys: []jwk{}}
	for _, k := range keys {
		priv, err := k.private()
		if err != nil {
			return jwks{}, err
		}
		out.Keys = append(out.Keys, jwk{
			Kty: "RSA", Alg: "RS256", Use: "sig", Kid: k.kid,
			N: b64.EncodeToString(priv.N.Bytes()),
			E: b64.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
		})
	}
	return out, nil
}

// toPEMMap returns {kid: PEM certificate} for keys.
func toPEMMap(keys []*rsaKey, commonName string, now time.Time) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range keys {
		c, err := k.certificate(commonName, now)
		if err != nil {
			return nil, err
		}
		out[k.kid] = c
	}
	return out, nil
}

// writeCerts answers a key endpoint with Google's caching headers, which
// clients use to decide when to refetch.
func (s *Server) writeCerts(w http.ResponseWriter, v any) {
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(certsMaxAge)+", must-revalidate, no-transform")
	h.Set("Expires", s.now().Add(certsMaxAge*time.Second).UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, contentTypeGoogle, v)
}

// handleJWKS serves /oauth2/v3/certs.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	set, err := toJWKS(s.signingKeys())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeCerts(w, set)
}

// handlePEMCerts serves /oauth2/v1/certs: the same keys as /oauth2/v3/certs,
// as self-signed X.509 certificates.
func (s *Server) handlePEMCerts(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	m, err := toPEMMap(s.signingKeys(), "accounts.google.com (fakegoogle)", s.now())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeCerts(w, m)
}

// saKeys returns the keys of the service account named in the path, or
// answers 404 like a Google API.
func (s *Server) saKeys(w http.ResponseWriter, r *http.Request) (string, []*rsaKey, bool) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return "", nil, false
	}
	email := r.PathValue("email")
	s.mu.Lock()
	sa, ok := s.sas[email]
	var keys []*rsaKey
	if ok {
		keys = slices.Clone(sa.keys)
	} else {
		keys = slices.Clone(s.system[email])
		ok = keys != nil
	}
	s.mu.Unlock()
	if !ok {
		// [?] Google's text for an unknown account.
		writeAPIError(w, http.StatusNotFound, "NOT_FOUND", "Service account "+strconv.Quote(email)+" not found.")
		return "", nil, false
	}
	return email, keys, true
}

// handleSAX509 serves /robot/v1/metadata/x509/{email} (the key file's
// client_x509_cert_url): {private_key_id: PEM certificate}.
func (s *Server) handleSAX509(w http.ResponseWriter, r *http.Request) {
	email, keys, ok := s.saKeys(w, r)
	if !ok {
		return
	}
	m, err := toPEMMap(keys, email, s.now())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeCerts(w, m)
}

// handleSAJWK serves /service_accounts/v1/metadata/jwk/{email}.
func (s *Server) handleSAJWK(w http.ResponseWriter, r *http.Request) {
	_, keys, ok := s.saKeys(w, r)
	if !ok {
		return
	}
	set, err := toJWKS(keys)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeCerts(w, set)
}

// rawKeys is the "raw" form of a service account's public keys
// (/service_accounts/v1/metadata/raw/{email}) [obs]: the modulus in
// standard base64 of its two's-complement bytes (a leading zero byte when
// the top bit is set), as Google writes it.
type rawKeys struct {
	KeyValues []rawKey `json:"keyvalues"`
}

type rawKey struct {
	Algorithm string `json:"algorithm"`
	Modulus   string `json:"modulus"`
	Exponent  string `json:"exponent"`
	KeyID     string `json:"keyid"`
}

// handleSARaw serves /service_accounts/v1/metadata/raw/{email}.
func (s *Server) handleSARaw(w http.ResponseWriter, r *http.Request) {
	_, keys, ok := s.saKeys(w, r)
	if !ok {
		return
	}
	out := rawKeys{KeyValues: []rawKey{}}
	for _, k := range keys {
		priv, err := k.private()
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		n := priv.N.Bytes()
		if n[0]&0x80 != 0 {
			n = append([]byte{0}, n...)
		}
		out.KeyValues = append(out.KeyValues, rawKey{Algorithm: "RSA", KeyID: k.kid,
			Modulus:  base64.StdEncoding.EncodeToString(n),
			Exponent: base64.StdEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes())})
	}
	s.writeCerts(w, out)
}

// writeAPIError writes a Google API (AIP-193) error, the style of
// www.googleapis.com resources, with optional google.rpc details.
func writeAPIError(w http.ResponseWriter, code int, status, msg string, details ...any) {
	type body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []any  `json:"details,omitempty"`
	}
	writeJSON(w, code, contentTypeGoogle, map[string]body{"error": {Code: code, Message: msg, Status: status, Details: details}})
}

// discovery is Google's openid-configuration field set, in its order.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
}

// handleDiscovery serves /.well-known/openid-configuration with every URL
// pointing at the fake. The issuer stays Google's because that is the iss
// of the tokens; OIDC libraries that insist on issuer == discovery URL need
// their issuer check relaxed.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	// Each endpoint's base: the fake's own, or Google's hosts when the fake
	// answers under Google's real name (the HTTPS front, googlehosts), so a
	// client that follows the document stays on Google's names.
	base := s.baseFor(r)
	accounts, oauth2, openid, www := base, base, base, base
	if host, _, _ := strings.Cut(strings.ToLower(r.Host), ":"); r.TLS != nil && host == "accounts.google.com" {
		accounts, oauth2 = "https://accounts.google.com", "https://oauth2.googleapis.com"
		openid, www = "https://openidconnect.googleapis.com", "https://www.googleapis.com"
	}
	writeJSON(w, http.StatusOK, contentTypeGoogle, discovery{
		Issuer:                      googleIssuer,
		AuthorizationEndpoint:       accounts + "/o/oauth2/v2/auth",
		DeviceAuthorizationEndpoint: oauth2 + "/device/code",
		TokenEndpoint:               oauth2 + "/token",
		UserinfoEndpoint:            openid + "/v1/userinfo",
		RevocationEndpoint:          oauth2 + "/revoke",
		JWKSURI:                     www + "/oauth2/v3/certs",
		ResponseTypesSupported: []string{"code", "token", "id_token", "code token", "code id_token",
			"token id_token", "code token id_token", "none"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ScopesSupported:                   []string{"openid", "email", "profile"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic"},
		ClaimsSupported: []string{"aud", "email", "email_verified", "exp", "family_name", "given_name",
			"iat", "iss", "name", "picture", "sub"},
		CodeChallengeMethodsSupported: []string{"plain", "S256"},
		GrantTypesSupported: []string{"authorization_code", "refresh_token",
			"urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
	})
}
