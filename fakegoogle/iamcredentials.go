package fakegoogle

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file serves the IAM Credentials API (protocol.md §6) over REST:
// POST /v1/projects/-/serviceAccounts/{email-or-unique-id}:{method};
// iamgrpc.go serves the same methods over gRPC, through runIAM.
//
// Checks run in this order: caller token (401), caller scope (403),
// request body (400), project wildcard and account names (400), existence of
// every named account (404), the delegation chain's grants (403), per-account
// state and policy (400), then the method's own work. Google's texts are used
// where they were observed; the others, marked [?], follow their style
// (clients show these texts to users, so none says "fakegoogle").

// iamMethod describes one IAM Credentials API method.
type iamMethod struct {
	rpc        string // method name in ErrorInfo metadata
	permission string // checked on the target account
	// fields maps each accepted JSON name to its proto field name, which
	// Google's error texts use. Proto3 JSON parsers accept both the
	// lowerCamel name and the proto name.
	fields map[string]string
}

const (
	permImplicitDelegation = "iam.serviceAccounts.implicitDelegation"
	iamAPI                 = "iamcredentials" // the API's name in its host name, iamcredentials.{universe}
	iamRPCPrefix           = "google.iam.credentials.v1.IAMCredentials."
)

var iamMethods = sync.OnceValue(func() map[string]*iamMethod {
	return map[string]*iamMethod{
		"generateAccessToken": {
			rpc: iamRPCPrefix + "GenerateAccessToken", permission: "iam.serviceAccounts.getAccessToken",
			fields: map[string]string{"name": "name", "delegates": "delegates", "scope": "scope", "lifetime": "lifetime"},
		},
		"generateIdToken": {
			rpc: iamRPCPrefix + "GenerateIdToken", permission: "iam.serviceAccounts.getOpenIdToken",
			fields: map[string]string{
				"name": "name", "delegates": "delegates", "audience": "audience",
				"includeEmail": "include_email", "include_email": "include_email",
				// Not in the discovery document, but Python and Node send it
				// and Google honours it (§3.2 B).
				"useEmailAzp": "use_email_azp", "use_email_azp": "use_email_azp",
			},
		},
		"signBlob": {
			rpc: iamRPCPrefix + "SignBlob", permission: "iam.serviceAccounts.signBlob",
			fields: map[string]string{"name": "name", "delegates": "delegates", "payload": "payload"},
		},
		"signJwt": {
			rpc: iamRPCPrefix + "SignJwt", permission: "iam.serviceAccounts.signJwt",
			fields: map[string]string{"name": "name", "delegates": "delegates", "payload": "payload"},
		},
	}
})

// Scopes that let a token call the IAM Credentials API.
const (
	scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	scopeIAM           = "https://www.googleapis.com/auth/iam"
)

// Lifetimes of generateAccessToken tokens (§6.2).
const (
	defaultIAMLifetime  = time.Hour
	extendedIAMLifetime = 12 * time.Hour
	// maxSignJwtExp is how far in the future a signJwt exp may be.
	maxSignJwtExp = 12 * time.Hour
)

// Texts of Google's API errors. Those marked [obs] were seen on the wire;
// the rest follow the shape of Google's messages [?].
const (
	// [obs] ESF texts, common to every googleapis.com API.
	msgCredentialsMissing = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	msgCredentialsInvalid = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	msgScopeInsufficient  = "Request had insufficient authentication scopes."
	// [obs] for an empty scope list; Google gives no detail.
	msgInvalidArgument = "Request contains an invalid argument."
	// [obs] Google's form of the 403 for a missing role, used for every
	// permission.
	msgPermissionDenied = "Permission '%s' denied on resource (or it may not exist)."
	// [obs] (§6.1)
	msgLifetimeTooLong = "Access tokens for service account %s can not have lifetimes of more than 1 hour. Use the Org Policy Constraint constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow up to 12 hours."
	// [obs] from the IAM API for an unknown account email; assumed to be
	// shared by IAM Credentials.
	msgAccountNotFound = "Not found; Gaia id not found for email %s"
	// [obs] from IAM for an account name that is neither an email nor a
	// numeric id [?: exact spacing].
	msgBadAccountForm = "Invalid form of account ID %s. Should be [Gaia ID |Email |Unique ID |] of the account"
	// [?] Google's answer for a disabled account.
	msgPrecondition = "Precondition check failed."
)

// googleRPC types for error details.
type errorInfo struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type badRequest struct {
	Type            string           `json:"@type"`
	FieldViolations []fieldViolation `json:"fieldViolations"`
}

type fieldViolation struct {
	Field       string `json:"field,omitempty"`
	Description string `json:"description"`
}

const (
	typeErrorInfo  = "type.googleapis.com/google.rpc.ErrorInfo"
	typeBadRequest = "type.googleapis.com/google.rpc.BadRequest"
)

// iamError is an API error decided while handling a request.
type iamError struct {
	code    int
	status  string
	message string
	details []any
}

func (e *iamError) Error() string { return e.message }

func invalidArgument(field, msg string) *iamError {
	e := &iamError{code: http.StatusBadRequest, status: "INVALID_ARGUMENT", message: msg}
	if field != "" || strings.HasPrefix(msg, "Invalid JSON payload") {
		e.details = []any{badRequest{Type: typeBadRequest, FieldViolations: []fieldViolation{{Field: field, Description: msg}}}}
	}
	return e
}

func (s *Server) writeIAMError(w http.ResponseWriter, r *http.Request, e *iamError) {
	s.log.Debug("fakegoogle: IAM Credentials error", "path", r.URL.Path, "status", e.code, "message", e.message)
	writeAPIError(w, e.code, e.status, e.message, e.details...)
}

// iamRequest is the union of the methods' request bodies.
type iamRequest struct {
	// Name is the resource name in the body, which Google's generated
	// REST clients send besides the path ("projects/-/serviceAccounts/X").
	Name         string
	Delegates    []string
	Scope        []string
	Lifetime     string
	Audience     string
	IncludeEmail bool
	UseEmailAzp  bool
	Payload      string
	hasPayload   bool
}

func (s *Server) handleIAMCredentials(w http.ResponseWriter, r *http.Request) {
	nm := r.PathValue("nameAndMethod") // unescaped: %40 is already "@"
	i := strings.LastIndex(nm, ":")
	if i < 0 || iamMethods()[nm[i+1:]] == nil {
		s.handleUnmodelled(w, r)
		return
	}
	name, methodName := nm[:i], nm[i+1:]
	m := iamMethods()[methodName]
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, fmt.Sprintf("Method %s not allowed on %s; use POST", r.Method, r.URL.Path), http.StatusMethodNotAllowed)
		return
	}
	caller, e := s.iamCaller(w, r, m)
	var req *iamRequest
	if e == nil {
		req, e = parseIAMRequest(r, m)
	}
	project := r.PathValue("project")
	if path := "projects/" + project + "/serviceAccounts/" + name; e == nil && req.Name != "" && req.Name != path {
		// [?] Google's answer; the generated clients always send both alike.
		e = invalidArgument("name", fmt.Sprintf("The name in the body, %q, differs from the one in the path, %q", req.Name, path))
	}
	var res *iamResult
	if e == nil {
		res, e = s.runIAM(caller, methodName, project, name, req)
	}
	if e != nil {
		s.writeIAMError(w, r, e)
		return
	}
	writeJSON(w, http.StatusOK, contentTypeGoogle, res.restBody(methodName))
}

// runIAM checks and runs one call of method for caller on the account
// projects/{project}/serviceAccounts/{account}, however it arrived.
func (s *Server) runIAM(caller, method, project, account string, req *iamRequest) (*iamResult, *iamError) {
	m := iamMethods()[method]
	if e := validateIAMRequest(method, req); e != nil {
		return nil, e
	}
	if project != "-" {
		// [?] Google's text was not observed.
		return nil, invalidArgument("name", fmt.Sprintf(
			"The project in %q must be the wildcard \"-\"; Google rejects a project id here", "projects/"+project+"/serviceAccounts/"+account))
	}
	target, e := s.authorizeChain(caller, req.Delegates, account, m)
	if e != nil {
		return nil, e
	}
	switch method {
	case "generateAccessToken":
		return s.generateAccessToken(target, req)
	case "generateIdToken":
		return s.generateIDToken(target, req)
	case "signJwt":
		return s.signJwt(target, req)
	default: // signBlob
		return s.signBlob(target, req)
	}
}

// iamResult is a method's answer, whatever the transport.
type iamResult struct {
	accessToken string    // generateAccessToken
	expireTime  time.Time // generateAccessToken
	token       string    // generateIdToken
	keyID       string    // signJwt, signBlob
	signedJwt   string
	signedBlob  []byte
}

// restBody is the JSON answer of method, in Google's field order.
func (res *iamResult) restBody(method string) any {
	switch method {
	case "generateAccessToken":
		return struct {
			AccessToken string `json:"accessToken"`
			ExpireTime  string `json:"expireTime"`
		}{res.accessToken, res.expireTime.Format(iamTimeFormat)}
	case "generateIdToken":
		return struct {
			Token string `json:"token"`
		}{res.token}
	case "signJwt":
		return struct {
			KeyID     string `json:"keyId"`
			SignedJwt string `json:"signedJwt"`
		}{res.keyID, res.signedJwt}
	default: // signBlob
		return struct {
			KeyID      string `json:"keyId"`
			SignedBlob string `json:"signedBlob"`
		}{res.keyID, base64.StdEncoding.EncodeToString(res.signedBlob)}
	}
}

// iamCaller authenticates the request's bearer token and checks its scopes,
// answering like Google's front end (ESF) does for every API.
func (s *Server) iamCaller(w http.ResponseWriter, r *http.Request, m *iamMethod) (string, *iamError) {
	g, e := s.apiCaller(w, r, apiMethod{service: s.serviceName(iamAPI), rpc: m.rpc, scopes: []string{scopeIAM, scopeCloudPlatform}})
	if e != nil {
		return "", e
	}
	return g.email, nil
}

// parseIAMRequest decodes the JSON body field by field, so that unknown
// fields and wrongly typed values get Google's texts.
func parseIAMRequest(r *http.Request, m *iamMethod) (*iamRequest, *iamError) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, invalidArgument("", "Cannot read request body: "+err.Error())
	}
	req := &iamRequest{}
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		return req, nil // every field at its default, like "{}"
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&raw); err != nil || dec.More() {
		// [?] Google's text names the offending token; the prefix is its.
		detail := "the body is not one JSON object"
		if err != nil {
			detail = err.Error()
		}
		return nil, invalidArgument("", "Invalid JSON payload received. "+detail)
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) { // deterministic errors
		v := raw[k]
		field, ok := m.fields[k]
		if !ok {
			// [obs] ESF's text for an unknown field.
			return nil, invalidArgument("", fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", k))
		}
		if string(v) == "null" {
			continue // proto3 JSON: null means the default
		}
		invalid := func(typ string) *iamError {
			// [?] shape of ESF's "Invalid value at 'page_size' (TYPE_INT32), ..." texts.
			var c bytes.Buffer
			json.Compact(&c, v)
			return invalidArgument(field, fmt.Sprintf("Invalid value at '%s' (%s), %s", field, typ, c.String()))
		}
		switch field {
		case "name":
			if json.Unmarshal(v, &req.Name) != nil {
				return nil, invalid("TYPE_STRING")
			}
		case "delegates":
			if json.Unmarshal(v, &req.Delegates) != nil {
				return nil, invalid("TYPE_STRING")
			}
		case "scope":
			if json.Unmarshal(v, &req.Scope) != nil {
				return nil, invalid("TYPE_STRING")
			}
		case "lifetime":
			if json.Unmarshal(v, &req.Lifetime) != nil {
				return nil, invalid("type.googleapis.com/google.protobuf.Duration")
			}
		case "audience":
			if json.Unmarshal(v, &req.Audience) != nil {
				return nil, invalid("TYPE_STRING")
			}
		case "include_email", "use_email_azp":
			b, ok := jsonBool(v)
			if !ok {
				return nil, invalid("TYPE_BOOL")
			}
			if field == "include_email" {
				req.IncludeEmail = b
			} else {
				req.UseEmailAzp = b
			}
		case "payload":
			if json.Unmarshal(v, &req.Payload) != nil {
				return nil, invalid("TYPE_STRING")
			}
			req.hasPayload = req.Payload != ""
		}
	}
	return req, nil
}

// jsonBool accepts true/false and, as Google's parser does and Python's
// IAM signer needs (§6.3), the strings "true"/"false".
func jsonBool(v json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, true
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch s {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// durationRE is the JSON form of google.protobuf.Duration.
var durationRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(-?)([0-9]{1,12})(?:\.([0-9]{1,9}))?s$`) })

// parseProtoDuration parses "3600s", "1.5s", "-2s".
func parseProtoDuration(s string) (time.Duration, bool) {
	m := durationRE().FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	secs, _ := strconv.ParseInt(m[2], 10, 64)
	d := time.Duration(secs) * time.Second
	if m[3] != "" {
		frac, _ := strconv.ParseInt((m[3] + "000000000")[:9], 10, 64)
		d += time.Duration(frac)
	}
	if m[1] == "-" {
		d = -d
	}
	return d, true
}

// validateIAMRequest checks what does not depend on IAM: required fields
// and value formats.
func validateIAMRequest(method string, req *iamRequest) *iamError {
	switch method {
	case "generateAccessToken":
		if len(expandScopes(strings.Join(req.Scope, " "))) == 0 {
			return invalidArgument("", msgInvalidArgument)
		}
		if req.Lifetime == "" {
			return nil
		}
		d, ok := parseProtoDuration(req.Lifetime)
		if !ok {
			// [?] ESF's text for a malformed Duration.
			return invalidArgument("lifetime", fmt.Sprintf("Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's': %q", req.Lifetime))
		}
		if d < 0 {
			return invalidArgument("lifetime", fmt.Sprintf("Lifetime %s is negative", req.Lifetime))
		}
		if d > extendedIAMLifetime {
			return invalidArgument("lifetime", fmt.Sprintf("Lifetime %s is over the maximum of 43200s (12 hours), even with constraints/iam.allowServiceAccountCredentialLifetimeExtension", req.Lifetime))
		}
	case "generateIdToken":
		if req.Audience == "" {
			return invalidArgument("audience", "Audience is required")
		}
	case "signJwt", "signBlob":
		if !req.hasPayload {
			return invalidArgument("payload", "Payload is required")
		}
	}
	return nil
}

// chainAccount is the part of a service account a handler needs, copied
// under the lock.
type chainAccount struct {
	info ServiceAccount
	key  *rsaKey // the one the account signs with: keys[0]
}

// accountID returns the account named by a delegate or path name in either
// accepted form: "projects/-/serviceAccounts/X" or bare X.
func accountID(name string) (string, *iamError) {
	id := name
	if rest, ok := strings.CutPrefix(name, "projects/"); ok {
		project, acct, ok := strings.Cut(rest, "/serviceAccounts/")
		if !ok || acct == "" {
			return "", invalidArgument("delegates", fmt.Sprintf(msgBadAccountForm, name))
		}
		if project != "-" {
			return "", invalidArgument("delegates", fmt.Sprintf("The project in %q must be the wildcard \"-\"", name))
		}
		id = acct
	}
	if id == "" || !(strings.Contains(id, "@") || isDigits(id)) {
		return "", invalidArgument("", fmt.Sprintf(msgBadAccountForm, id))
	}
	return id, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// authorizeChain resolves delegates and the target and checks that caller
// holds Token Creator on the first hop and each hop on the next. Names are
// all resolved before any grant is checked, so an unknown account is a 404
// whatever the grants: Google sometimes answers a missing account with the
// 403 "(or it may not exist)" instead, but a 404 tells the fake's user what
// is wrong.
func (s *Server) authorizeChain(caller string, delegates []string, name string, m *iamMethod) (*chainAccount, *iamError) {
	ids := make([]string, 0, len(delegates)+1)
	for _, d := range delegates {
		id, e := accountID(d)
		if e != nil {
			return nil, e
		}
		ids = append(ids, id)
	}
	id, e := accountID(name)
	if e != nil {
		return nil, e
	}
	ids = append(ids, id)

	s.mu.Lock()
	defer s.mu.Unlock()
	hops := make([]*serviceAccount, len(ids))
	for i, id := range ids {
		sa := s.findSALocked(id)
		if sa == nil {
			msg := fmt.Sprintf(msgAccountNotFound, id)
			if !strings.Contains(id, "@") {
				msg = fmt.Sprintf("Not found; no service account with unique id %s", id)
			}
			s.log.Debug("fakegoogle: IAM decision", "method", m.rpc, "caller", caller, "denied", "account not found", "account", id)
			return nil, &iamError{code: http.StatusNotFound, status: "NOT_FOUND", message: msg}
		}
		hops[i] = sa
	}
	principal := caller
	for i, sa := range hops {
		// Every hop into a delegate needs implicitDelegation; the last one,
		// into the target, the method's permission. Token Creator grants
		// both. [?] which permission Google names for a broken middle link.
		perm := m.permission
		if i < len(hops)-1 {
			perm = permImplicitDelegation
		}
		resource := saResourcePrefix + sa.info.Email
		if !permittedLocked(sa, principal, perm) { // principal may be federated (federation.go)
			s.log.Debug("fakegoogle: IAM decision", "method", m.rpc, "caller", caller, "denied", perm,
				"principal", principal, "resource", resource)
			return nil, &iamError{code: http.StatusForbidden, status: "PERMISSION_DENIED",
				message: fmt.Sprintf(msgPermissionDenied, perm),
				details: []any{errorInfo{Type: typeErrorInfo, Reason: "IAM_PERMISSION_DENIED", Domain: "iam.googleapis.com",
					// "resource" is the fake's addition [?]: Google's message
					// does not say which hop of a chain failed.
					Metadata: map[string]string{"permission": perm, "resource": resource}}}}
		}
		principal = sa.info.Email
	}
	for _, sa := range hops {
		if sa.info.Disabled {
			s.log.Debug("fakegoogle: IAM decision", "method", m.rpc, "caller", caller, "denied", "account disabled", "account", sa.info.Email)
			return nil, &iamError{code: http.StatusBadRequest, status: "FAILED_PRECONDITION", message: msgPrecondition}
		}
	}
	t := hops[len(hops)-1]
	s.log.Debug("fakegoogle: IAM decision", "method", m.rpc, "caller", caller, "allowed", m.permission,
		"target", t.info.Email, "delegates", len(delegates))
	return &chainAccount{info: t.info, key: t.keys[0]}, nil
}

// iamTimeFormat is expireTime's format: Python parses it with exactly
// "%Y-%m-%dT%H:%M:%SZ", so no fractional seconds (§6.2).
const iamTimeFormat = "2006-01-02T15:04:05Z"

func (s *Server) generateAccessToken(t *chainAccount, req *iamRequest) (*iamResult, *iamError) {
	lifetime := defaultIAMLifetime
	if req.Lifetime != "" {
		if d, _ := parseProtoDuration(req.Lifetime); d > 0 {
			lifetime = d // "0s" is proto3's default: the default lifetime
		}
	}
	if lifetime > defaultIAMLifetime {
		s.mu.Lock()
		allowed := false
		if sa := s.sas[t.info.Email]; sa != nil {
			allowed = sa.lifetimeExtension
		}
		s.mu.Unlock()
		if !allowed {
			return nil, invalidArgument("lifetime", fmt.Sprintf(msgLifetimeTooLong, t.info.Email))
		}
	}
	// Whole seconds, so that tokeninfo's exp and expireTime agree.
	expiry := s.now().Add(lifetime).UTC().Truncate(time.Second)
	scopes := expandScopes(strings.Join(req.Scope, " "))
	tok := "ya29.c." + randomToken(96)
	s.storeAccess(tok, &accessGrant{
		clientID: t.info.UniqueID, subject: t.info.UniqueID, email: t.info.Email,
		scopes: scopes, expiry: expiry,
	})
	s.log.Debug("fakegoogle: issued impersonated access token", "service_account", t.info.Email, "scopes", scopes, "lifetime", lifetime)
	return &iamResult{accessToken: tok, expireTime: expiry}, nil
}

func (s *Server) generateIDToken(t *chainAccount, req *iamRequest) (*iamResult, *iamError) {
	iat := s.now().Unix()
	c := idTokenClaims{
		Aud: req.Audience, Azp: t.info.UniqueID,
		Exp: iat + int64(s.lifetime/time.Second), Iat: iat, Iss: googleIssuer, Sub: t.info.UniqueID,
	}
	if req.UseEmailAzp {
		c.Azp = t.info.Email
	}
	if req.IncludeEmail {
		c.Email, c.EmailVerified = t.info.Email, true
	}
	// Signed with Google's keys, like every Google ID token.
	tok, err := signJWT(s.signingKey(), c)
	if err != nil {
		return nil, s.iamInternalError(err)
	}
	s.log.Debug("fakegoogle: issued impersonated ID token", "service_account", t.info.Email, "audience", req.Audience)
	return &iamResult{token: tok}, nil
}

func (s *Server) signJwt(t *chainAccount, req *iamRequest) (*iamResult, *iamError) {
	claims, err := decodeClaims([]byte(req.Payload))
	if err != nil {
		return nil, invalidArgument("payload", "Payload is not a JSON object: "+err.Error())
	}
	if exp, ok := claims["exp"]; ok {
		// The API reference: exp must be an integer timestamp, not in the
		// past and at most 12 hours ahead. [?] Google's texts.
		n, isNum := exp.(json.Number)
		e, err := n.Int64()
		now := s.now()
		switch {
		case !isNum || err != nil:
			return nil, invalidArgument("payload", fmt.Sprintf("The exp claim %v is not an integer timestamp", exp))
		case e < now.Unix():
			return nil, invalidArgument("payload", fmt.Sprintf("The exp claim %d is in the past", e))
		case e > now.Add(maxSignJwtExp).Unix():
			return nil, invalidArgument("payload", fmt.Sprintf("The exp claim %d is more than 12 hours in the future", e))
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(req.Payload)); err != nil {
		return nil, s.iamInternalError(err) // decodeClaims accepted it
	}
	jwt, err := signJWTPayload(t.key, compact.Bytes())
	if err != nil {
		return nil, s.iamInternalError(err)
	}
	s.log.Debug("fakegoogle: signed JWT", "service_account", t.info.Email, "key_id", t.key.kid)
	return &iamResult{keyID: t.key.kid, signedJwt: jwt}, nil
}

func (s *Server) signBlob(t *chainAccount, req *iamRequest) (*iamResult, *iamError) {
	blob, ok := decodeProtoBytes(req.Payload)
	if !ok {
		return nil, invalidArgument("payload", fmt.Sprintf("Invalid value at 'payload' (TYPE_BYTES), %q", req.Payload))
	}
	priv, err := t.key.private()
	if err != nil {
		return nil, s.iamInternalError(err)
	}
	sum := sha256.Sum256(blob)
	sig, err := rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, sum[:])
	if err != nil {
		return nil, s.iamInternalError(err)
	}
	s.log.Debug("fakegoogle: signed blob", "service_account", t.info.Email, "key_id", t.key.kid, "bytes", len(blob))
	return &iamResult{keyID: t.key.kid, signedBlob: sig}, nil
}

// decodeProtoBytes decodes a bytes field: proto3 JSON accepts standard and
// URL-safe base64, padded or not.
func decodeProtoBytes(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func (s *Server) iamInternalError(err error) *iamError {
	s.log.Error("fakegoogle: IAM Credentials internal error", "err", err)
	return &iamError{code: http.StatusInternalServerError, status: "INTERNAL", message: err.Error()}
}
