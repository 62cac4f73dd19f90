package fakegoogle

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// A fake Identity-Aware Proxy. IAP lets a request through to the app
// behind it only with a Google identity, and tells the app who it is with
// an ES256 JWT in the x-goog-iap-jwt-assertion header (iss
// https://cloud.google.com/iap, aud "/projects/NUMBER/apps/PROJECT_ID" for
// App Engine or "/projects/NUMBER/global/backendServices/ID"), signed with
// keys Google publishes at www.gstatic.com/iap/verify/public_key-jwk (JWKS)
// and /iap/verify/public_key (PEM). The fake signs with its own P-256 keys
// (by hand, like every JWT it makes: jwt.go) and serves both key forms, so
// an app's IAP check can be tested end to end, and puts its protected
// sample service behind such a proxy at /iap/sample/get_range.

// IAPIssuer is the iss of IAP's signed headers.
const IAPIssuer = "https://cloud.google.com/iap"

// DefaultIAPClientID is the OAuth client of the fake's IAP: programmatic
// callers present a Google ID token for this audience.
const DefaultIAPClientID = DefaultProjectNumber + "-fakeiap.apps.googleusercontent.com"

// DefaultIAPAudience is the aud of the assertions the sample service behind
// the fake's IAP receives (an App Engine app of the default project).
const DefaultIAPAudience = "/projects/" + DefaultProjectNumber + "/apps/" + DefaultProjectID

// iapAssertionLifetime is how long IAP's assertions live (ten minutes).
const iapAssertionLifetime = 10 * time.Minute

// iapSamplePath is the sample service behind the fake's IAP.
const iapSamplePath = "/iap" + samplePath

// Headers IAP sets on the requests it lets through.
const (
	headerIAPAssertion = "X-Goog-Iap-Jwt-Assertion"
	headerIAPEmail     = "X-Goog-Authenticated-User-Email"
	headerIAPUserID    = "X-Goog-Authenticated-User-Id"
)

// ecKey is an IAP signing key. IAP's key ids are short ("0oeLcQ").
type ecKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newECKey() *ecKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("fakegoogle: generate P-256 key: " + err.Error()) // crypto/rand does not fail
	}
	return &ecKey{kid: randomToken(4)[:6], priv: k}
}

// signES256 signs claims with header {"alg":"ES256","kid","typ":"JWT"}; the
// signature is JWS's r||s, 32 bytes each (RFC 7518 §3.4), not ASN.1.
func signES256(key *ecKey, claims any) (string, error) {
	p, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("fakegoogle: encode claims: %w", err)
	}
	h, _ := json.Marshal(jwtHeader{Alg: "ES256", Kid: key.kid, Typ: "JWT"})
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key.priv, sum[:])
	if err != nil {
		return "", fmt.Errorf("fakegoogle: sign ES256: %w", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig), nil
}

// iapClaims are an IAP assertion's claims, in the order IAP writes them.
type iapClaims struct {
	Aud            string `json:"aud"`
	Azp            string `json:"azp"`
	Email          string `json:"email"`
	Exp            int64  `json:"exp"`
	Iat            int64  `json:"iat"`
	IdentitySource string `json:"identity_source"`
	Iss            string `json:"iss"`
	Sub            string `json:"sub"`
}

// MintIAPAssertion returns the x-goog-iap-jwt-assertion IAP would send an
// app with aud audience for the identity email with Google account id
// subject (a user's subject or a service account's unique id).
func (s *Server) MintIAPAssertion(audience, email, subject string) (string, error) {
	if err := checkIAPAudience(audience); err != nil {
		return "", fmt.Errorf("fakegoogle: mint IAP assertion: %w", err)
	}
	if email == "" || subject == "" {
		return "", errors.New("fakegoogle: mint IAP assertion: need an email and a subject")
	}
	now := s.now().Unix()
	s.mu.Lock()
	key := s.iapKeys[0]
	s.mu.Unlock()
	return signES256(key, iapClaims{Aud: audience, Azp: audience, Email: email, Exp: now + int64(iapAssertionLifetime/time.Second),
		Iat: now, IdentitySource: "GOOGLE", Iss: IAPIssuer, Sub: "accounts.google.com:" + subject})
}

// checkIAPAudience accepts IAP's two audience forms.
func checkIAPAudience(aud string) error {
	parts := strings.Split(aud, "/")
	ok := len(parts) >= 5 && parts[0] == "" && parts[1] == "projects" && projectNumberRE().MatchString(parts[2]) &&
		(len(parts) == 5 && parts[3] == "apps" && parts[4] != "" ||
			len(parts) == 6 && parts[3] == "global" && parts[4] == "backendServices" && parts[5] != "")
	if !ok {
		return fmt.Errorf("audience %q: want /projects/NUMBER/apps/PROJECT_ID or /projects/NUMBER/global/backendServices/ID", aud)
	}
	return nil
}

// IAPOptions configures a fake IAP in front of an app.
type IAPOptions struct {
	// Audience is the aud of the assertions the app receives:
	// "/projects/NUMBER/apps/PROJECT_ID" or
	// "/projects/NUMBER/global/backendServices/ID". Required.
	Audience string
	// ClientID is the IAP OAuth client: callers must present a Google ID
	// token (from this fake) with this aud, in Proxy-Authorization or
	// Authorization, as IAP's programmatic access wants. Optional; default
	// DefaultIAPClientID.
	ClientID string
	// Members, when not empty, are the emails allowed through (IAP's
	// "IAP-secured Web App User" role); others get 403. Optional; default:
	// every identity with a valid token.
	Members []string
	// Backend is the app. Required.
	Backend http.Handler
}

// IAP returns a handler that guards opts.Backend as IAP does: it checks the
// caller's ID token, drops the header it came in and any x-goog-iap-* or
// x-goog-authenticated-* header the caller sent, and passes the request on
// with a fresh signed assertion.
func (s *Server) IAP(opts IAPOptions) (http.Handler, error) {
	if err := checkIAPAudience(opts.Audience); err != nil {
		return nil, fmt.Errorf("fakegoogle: IAP: %w", err)
	}
	if opts.Backend == nil {
		return nil, errors.New("fakegoogle: IAP: Options.Backend is required")
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultIAPClientID
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveIAP(w, r, &opts) }), nil
}

func (s *Server) serveIAP(w http.ResponseWriter, r *http.Request, o *IAPOptions) {
	header := "Proxy-Authorization"
	if r.Header.Get(header) == "" {
		header = "Authorization"
	}
	scheme, tok, _ := strings.Cut(r.Header.Get(header), " ")
	refuse := func(status int, msg string) {
		s.log.Info("fakegoogle: IAP refused a request", "path", r.URL.Path, "reason", msg)
		http.Error(w, msg, status)
	}
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		refuse(http.StatusUnauthorized, "Invalid IAP credentials: empty token")
		return
	}
	claims, _, err := s.verifyIDToken(strings.TrimSpace(tok))
	if err != nil {
		refuse(http.StatusUnauthorized, "Invalid IAP credentials: Unable to parse JWT")
		return
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	switch {
	case str("iss") != googleIssuer && str("iss") != "accounts.google.com":
		refuse(http.StatusUnauthorized, "Invalid IAP credentials: JWT issuer is not Google")
		return
	case str("aud") != o.ClientID:
		refuse(http.StatusUnauthorized, fmt.Sprintf("Invalid IAP credentials: JWT audience doesn't match this application ('aud' claim (%s) doesn't match expected value (%s))", str("aud"), o.ClientID))
		return
	case str("email") == "":
		refuse(http.StatusUnauthorized, "Invalid IAP credentials: the ID token has no email (ask for one with the email scope or include_email)")
		return
	case len(o.Members) > 0 && !slices.Contains(o.Members, str("email")):
		refuse(http.StatusForbidden, "You don't have access. Please contact the administrator of this application.")
		return
	}
	assertion, err := s.MintIAPAssertion(o.Audience, str("email"), str("sub"))
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del(header)
	for k := range r2.Header {
		if l := strings.ToLower(k); strings.HasPrefix(l, "x-goog-iap-") || strings.HasPrefix(l, "x-goog-authenticated-") {
			r2.Header.Del(k)
		}
	}
	r2.Header.Set(headerIAPAssertion, assertion)
	r2.Header.Set(headerIAPEmail, "accounts.google.com:"+str("email"))
	r2.Header.Set(headerIAPUserID, "accounts.google.com:"+str("sub"))
	o.Backend.ServeHTTP(w, r2)
}

// IAPSampleURL returns BaseURL()+"/iap/sample/get_range": the sample
// service behind the fake's IAP (audience DefaultIAPAudience, client
// DefaultIAPClientID). Callers need an ID token for DefaultIAPClientID.
func (s *Server) IAPSampleURL() string { return s.BaseURL() + iapSamplePath }

// handleIAPSample serves the sample behind IAP: the front checks the
// caller, then the app checks IAP's assertion as an app should, with IAP's
// keys (here in memory) and the App Engine audience. The check is the
// fake's own code (checkIAPAssertion), never the client's verifier, so a
// verifier bug cannot hide on both sides.
func (s *Server) handleIAPSample(w http.ResponseWriter, r *http.Request) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, refusal := s.checkIAPAssertion(r.Header.Get(headerIAPAssertion), DefaultIAPAudience)
		if refusal != "" {
			s.sampleRefused(w, r, refusal)
			return
		}
		s.serveRange(w, r, caller)
	})
	front, err := s.IAP(IAPOptions{Audience: DefaultIAPAudience, Backend: app})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	front.ServeHTTP(w, r)
}

// checkIAPAssertion checks an x-goog-iap-jwt-assertion as Google documents
// for apps behind IAP: ES256 by one of IAP's keys (by kid), issuer
// IAPIssuer, audience aud, within its lifetime. It returns the caller's
// email, or why the assertion is refused.
func (s *Server) checkIAPAssertion(assertion, aud string) (caller, refusal string) {
	if assertion == "" {
		return "", "missing " + headerIAPAssertion + ": this service is behind IAP"
	}
	jwt, err := parseJWT(assertion)
	if err != nil {
		return "", "invalid IAP assertion: " + err.Error()
	}
	if jwt.header(jwt.alg) != "ES256" || len(jwt.signature) != 64 {
		return "", "invalid IAP assertion: want an ES256 signature"
	}
	var key *ecdsa.PublicKey
	s.mu.Lock()
	for _, k := range s.iapKeys {
		if k.kid == jwt.header(jwt.kid) {
			key = &k.priv.PublicKey
		}
	}
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(jwt.signingInput))
	r, sig := new(big.Int).SetBytes(jwt.signature[:32]), new(big.Int).SetBytes(jwt.signature[32:])
	if key == nil || !ecdsa.Verify(key, sum[:], r, sig) {
		return "", "invalid IAP assertion: not signed by IAP's keys"
	}
	var c iapClaims
	if err := json.Unmarshal(jwt.payload, &c); err != nil {
		return "", "invalid IAP assertion: " + err.Error()
	}
	now := s.now().Unix()
	switch {
	case c.Iss != IAPIssuer:
		return "", fmt.Sprintf("IAP assertion issuer is %q; want %q", c.Iss, IAPIssuer)
	case c.Aud != aud:
		return "", fmt.Sprintf("IAP assertion is for %q; this app expects %q", c.Aud, aud)
	case now >= c.Exp:
		return "", "IAP assertion expired at " + time.Unix(c.Exp, 0).UTC().Format(time.RFC3339)
	case c.Iat > now+30:
		return "", "IAP assertion issued in the future"
	}
	return c.Email, ""
}

// iapJWK is an EC public key of IAP's JWKS, fields in Google's order.
type iapJWK struct {
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Use string `json:"use"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// handleIAPKeys serves www.gstatic.com/iap/verify/public_key-jwk and
// /iap/verify/public_key ({kid: PEM public key}).
func (s *Server) handleIAPKeys(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	s.mu.Lock()
	keys := slices.Clone(s.iapKeys)
	s.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "-jwk") {
		set := struct {
			Keys []iapJWK `json:"keys"`
		}{}
		for _, k := range keys {
			var x, y [32]byte
			k.priv.X.FillBytes(x[:])
			k.priv.Y.FillBytes(y[:])
			set.Keys = append(set.Keys, iapJWK{Alg: "ES256", Crv: "P-256", Kid: k.kid, Kty: "EC", Use: "sig",
				X: b64.EncodeToString(x[:]), Y: b64.EncodeToString(y[:])})
		}
		s.writeCerts(w, set)
		return
	}
	m := map[string]string{}
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		m[k.kid] = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	s.writeCerts(w, m)
}
