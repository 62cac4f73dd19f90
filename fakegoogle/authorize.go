package fakegoogle

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken/internal/hostcheck"
)

// The authorization endpoint (protocol.md §2): a consent page with an
// account chooser over the fake's users and Allow / Deny buttons, and the
// authorization_code grant of the token endpoint (§1.5). Codes are bound to
// client, redirect URI, PKCE challenge, user and scopes, single-use and
// short-lived.

// authCodeLifetime bounds codes and unanswered consent pages. Google does
// not publish its value; ten minutes is RFC 6749's recommended maximum.
const authCodeLifetime = 10 * time.Minute

const grantAuthorizationCode = "authorization_code"

// authzState is the authorization endpoint's share of the registry. Its
// maps are created on first use; all access holds Server.mu.
type authzState struct {
	webRedirects map[string][]string     // web client id → registered redirect URIs
	pending      map[string]*authRequest // consent form id → validated request
	codes        map[string]*authCode
	consented    map[string]bool // client id + "\x00" + user email: offline consent given
	granted      map[string][]string
}

func (a *authzState) init() {
	if a.codes == nil {
		a.webRedirects = map[string][]string{}
		a.pending = map[string]*authRequest{}
		a.codes = map[string]*authCode{}
		a.consented = map[string]bool{}
		a.granted = map[string][]string{}
	}
}

// authRequest is a validated authorization request awaiting the user.
type authRequest struct {
	clientID             string
	redirectURI          string
	state                string
	scopes               []string
	challenge            string
	method               string // "S256" or "plain" when challenge is set
	offline              bool
	promptConsent        bool
	includeGrantedScopes bool
	loginHint            string
	nonce                string // echoed into the id_token (OpenID Connect Core §3.1.2.1)
	expiry               time.Time
}

// authCode is what an authorization code stands for.
type authCode struct {
	req      authRequest
	user     string // email
	scopes   []string
	expiry   time.Time
	used     bool
	replayed bool
	issued   []string // tokens minted from it; revoked if the code is replayed
	// refresh says whether the exchange returns a refresh token: offline
	// access on first consent, or with prompt=consent.
	refresh bool
}

// AddWebClient registers an OAuth "web application" client. Unlike the
// desktop clients of AddOAuthClient, which may redirect to any loopback
// port, a web client may redirect only to one of redirectURIs, compared
// exactly. Calling it again replaces the secret and the URIs.
func (s *Server) AddWebClient(clientID, secret string, redirectURIs ...string) error {
	if len(redirectURIs) == 0 {
		return fmt.Errorf("fakegoogle: add web client %q: no redirect URIs", clientID)
	}
	for _, r := range redirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment != "" {
			return fmt.Errorf("fakegoogle: add web client %q: redirect URI %q: want an absolute http(s) URL without a fragment", clientID, r)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authz.init()
	s.clients[clientID] = secret
	s.authz.webRedirects[clientID] = slices.Clone(redirectURIs)
	return nil
}

// AuthURL returns the URL of the fake's authorization endpoint
// (BaseURL + "/o/oauth2/v2/auth").
func (s *Server) AuthURL() string { return s.BaseURL() + "/o/oauth2/v2/auth" }

// clientSecretFile is Google's client-secret JSON, field order as the
// Cloud console writes it.
type clientSecretFile struct {
	ClientID                string   `json:"client_id"`
	ProjectID               string   `json:"project_id"`
	AuthURI                 string   `json:"auth_uri"`
	TokenURI                string   `json:"token_uri"`
	AuthProviderX509CertURL string   `json:"auth_provider_x509_cert_url"`
	ClientSecret            string   `json:"client_secret"`
	RedirectURIs            []string `json:"redirect_uris"`
}

// ClientSecretJSON returns the OAuth client JSON the Cloud console would
// download for clientID ({"installed": …} for desktop clients, {"web": …}
// for web clients), with its URLs pointing at the fake.
func (s *Server) ClientSecretJSON(clientID string) ([]byte, error) {
	base := s.BaseURL()
	if base == "" {
		return nil, fmt.Errorf("fakegoogle: client JSON for %q: base URL not set; call SetBaseURL or use Start", clientID)
	}
	s.mu.Lock()
	secret, ok := s.clients[clientID]
	web := slices.Clone(s.authz.webRedirects[clientID])
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("fakegoogle: client JSON for %q: unknown OAuth client; call AddOAuthClient or AddWebClient first", clientID)
	}
	f := clientSecretFile{
		ClientID: clientID, ProjectID: DefaultProjectID,
		AuthURI: base + "/o/oauth2/auth", TokenURI: base + "/token",
		AuthProviderX509CertURL: base + "/oauth2/v1/certs",
		ClientSecret:            secret, RedirectURIs: web,
	}
	if web == nil {
		f.RedirectURIs = []string{"http://localhost"}
		return marshalFile(map[string]clientSecretFile{"installed": f})
	}
	return marshalFile(map[string]clientSecretFile{"web": f})
}

// handleAuthorize serves /o/oauth2/v2/auth and /o/oauth2/auth: a GET (or a
// POST of the same parameters) shows the consent page; the page's form
// posts the user's decision back here.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.authErrorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "Method "+r.Method+" is not allowed; use GET.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "Cannot parse the request: "+err.Error())
		return
	}
	if r.Method == http.MethodPost && r.PostForm.Has("consent") {
		// The decision comes from the consent page's own form: a page of
		// another site posting Allow (with a form id it learned) would
		// grant its client access as the user.
		if err := hostcheck.CrossSite(r, ""); err != nil {
			s.authErrorPage(w, r, http.StatusForbidden, "invalid_request", "fakegoogle: "+err.Error())
			return
		}
		s.consentDecision(w, r)
		return
	}
	req, ok := s.validateAuthRequest(w, r)
	if !ok {
		return
	}
	s.showConsent(w, r, req)
}

// validateAuthRequest checks an authorization request in Google's order:
// client and redirect URI first, answered with an error page because an
// unvalidated redirect URI must never be redirected to; everything else is
// sent back to the client as an error redirect with the state.
func (s *Server) validateAuthRequest(w http.ResponseWriter, r *http.Request) (*authRequest, bool) {
	req, ok := s.checkAuthClient(w, r)
	if !ok {
		return nil, false
	}
	for _, check := range []func(url.Values, *authRequest) error{
		s.checkAuthResponseType, checkAuthPKCE, checkAuthAccess,
	} {
		var ref *refusal
		if err := check(r.Form, req); errors.As(err, &ref) {
			s.log.Debug("fakegoogle: authorization request refused", "client_id", req.clientID, "error", ref.code, "description", ref.desc)
			redirectWith(w, r, req, url.Values{"error": {ref.code}, "error_description": {ref.desc}})
			return nil, false
		}
	}
	return req, true
}

// checkAuthClient checks the client and its redirect URI, answering with
// an error page.
func (s *Server) checkAuthClient(w http.ResponseWriter, r *http.Request) (*authRequest, bool) {
	q := r.Form
	clientID := q.Get("client_id")
	if clientID == "" {
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "Missing required parameter: client_id")
		return nil, false
	}
	s.mu.Lock()
	_, known := s.clients[clientID]
	registered := slices.Clone(s.authz.webRedirects[clientID])
	s.mu.Unlock()
	if !known {
		s.authErrorPage(w, r, http.StatusUnauthorized, "invalid_client", descClientNotFound)
		return nil, false
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "Missing required parameter: redirect_uri")
		return nil, false
	}
	if why := redirectProblem(redirect, registered); why != "" {
		s.authErrorPage(w, r, http.StatusBadRequest, "redirect_uri_mismatch",
			fmt.Sprintf("You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy: redirect_uri=%s %s.", redirect, why))
		return nil, false
	}
	return &authRequest{clientID: clientID, redirectURI: redirect, state: q.Get("state"), loginHint: q.Get("login_hint"), nonce: q.Get("nonce")}, true
}

// checkAuthResponseType checks response_type and the scopes.
func (s *Server) checkAuthResponseType(q url.Values, req *authRequest) error {
	switch rt := q.Get("response_type"); {
	case rt == "":
		return oauthRefusal("invalid_request", "Missing required parameter: response_type")
	case rt != "code":
		// Google also serves the implicit and hybrid flows; the fake
		// models only the authorization code.
		return oauthRefusal("unsupported_response_type", "Unsupported response_type: "+rt+" (the fake models only code)")
	}
	scope := q.Get("scope")
	if strings.TrimSpace(scope) == "" {
		return oauthRefusal("invalid_request", "Missing required parameter: scope")
	}
	var invalid []string
	for _, sc := range strings.Fields(scope) {
		if !s.KnownScope(sc) {
			invalid = append(invalid, sc)
		}
	}
	if len(invalid) > 0 {
		return oauthRefusal("invalid_scope", "Some requested scopes were invalid. {invalid=["+strings.Join(invalid, ", ")+"]}")
	}
	req.scopes = expandScopes(scope)
	return nil
}

// checkAuthPKCE checks code_challenge and its method.
func checkAuthPKCE(q url.Values, req *authRequest) error {
	req.challenge, req.method = q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case req.challenge == "" && req.method != "":
		return oauthRefusal("invalid_request", "code_challenge_method is set but code_challenge is missing")
	case req.challenge == "":
	case req.method == "":
		req.method = "plain" // the default when only a challenge is sent
		fallthrough
	default:
		if req.method != "S256" && req.method != "plain" {
			return oauthRefusal("invalid_request", "Invalid code_challenge_method: "+req.method+" (want S256 or plain)")
		}
		if !validVerifier(req.challenge) {
			return oauthRefusal("invalid_request", "Invalid code_challenge: want 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
		}
	}
	return nil
}

// checkAuthAccess checks access_type, prompt and include_granted_scopes.
func checkAuthAccess(q url.Values, req *authRequest) error {
	switch at := q.Get("access_type"); at {
	case "", "online":
	case "offline":
		req.offline = true
	default:
		return oauthRefusal("invalid_request", "Invalid access_type: "+at)
	}
	prompts := strings.Fields(q.Get("prompt"))
	for _, p := range prompts {
		if p != "none" && p != "consent" && p != "select_account" {
			return oauthRefusal("invalid_request", "Invalid prompt: "+p)
		}
	}
	if slices.Contains(prompts, "none") {
		if len(prompts) > 1 {
			return oauthRefusal("invalid_request", "prompt=none cannot be combined with other values")
		}
		// The fake keeps no browser session, so it can never answer
		// without showing its page.
		return oauthRefusal("login_required", "There is no signed-in session; prompt=none cannot succeed")
	}
	req.promptConsent = slices.Contains(prompts, "consent")
	req.includeGrantedScopes = q.Get("include_granted_scopes") == "true"
	return nil
}

// redirectProblem says why redirect may not be used, or "" if it may:
// exactly a registered URI for web clients; for desktop clients an http
// loopback address on any port (RFC 8252 §7.3; Google accepts
// 127.0.0.1, [::1] and localhost).
func redirectProblem(redirect string, registered []string) string {
	if registered != nil {
		if slices.Contains(registered, redirect) {
			return ""
		}
		return "is not one of the redirect URIs registered for this web client"
	}
	u, err := url.Parse(redirect)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" || u.User != nil || strings.Contains(redirect, "#"):
		return "is not a loopback address (desktop clients may use http://127.0.0.1:PORT/, http://[::1]:PORT/ or http://localhost:PORT/)"
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return ""
	}
	return "is not a loopback address (desktop clients may use http://127.0.0.1:PORT/, http://[::1]:PORT/ or http://localhost:PORT/)"
}

// validVerifier checks RFC 7636's shape of a verifier or challenge.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// redirectWith sends the browser to the request's (validated) redirect URI
// with params and the state added to its query.
func redirectWith(w http.ResponseWriter, r *http.Request, req *authRequest, params url.Values) {
	u, _ := url.Parse(req.redirectURI) // validated
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", noStore)
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// consentPage lists the fake's users; the radio button of the login_hint
// user (else the first) is checked.
var consentPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Fake Google Accounts</title>
<style>
body{font-family:sans-serif;background:#f0f4f9;margin:0}
main{background:#fff;max-width:32em;margin:3em auto;padding:2em 2.5em;border-radius:1.5em}
h1{font-weight:400;margin-top:0}.client{font-family:monospace;word-break:break-all}
fieldset{border:0;padding:0}label{display:block;padding:.6em;border-bottom:1px solid #dde}
ul{padding-left:1.2em}.buttons{display:flex;justify-content:flex-end;gap:1em;margin-top:1.5em}
button{font-size:1em;padding:.6em 1.6em;border-radius:2em;border:1px solid #747775;background:#fff}
#allow{background:#0b57d0;color:#fff;border-color:#0b57d0}.note{color:#5f6368;font-size:.85em}
</style></head>
<body><main>
<h1>Choose an account</h1>
<p>to continue to <span class="client">{{.ClientID}}</span></p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="consent" value="{{.ID}}">
<fieldset>
{{range .Users}}<label><input type="radio" name="account" value="{{.Email}}"{{if .Checked}} checked{{end}}> {{.Email}}</label>
{{end}}</fieldset>
<p>The app is asking to:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
{{if .Offline}}<p class="note">It will keep access while you are away (offline access).</p>{{end}}
<div class="buttons">
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
</div>
</form>
<p class="note">fakegoogle: a fake of Google's consent page for tests; nothing here is Google.</p>
</main></body></html>
`))
})

type consentUser struct {
	Email   string
	Checked bool
}

// showConsent stores the validated request and renders the consent page.
func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, req *authRequest) {
	now := s.now()
	req.expiry = now.Add(authCodeLifetime)
	id := randomToken(24)
	s.mu.Lock()
	s.authz.init()
	for k, p := range s.authz.pending {
		if !now.Before(p.expiry) {
			delete(s.authz.pending, k)
		}
	}
	s.authz.pending[id] = req
	var users []consentUser
	hint := ""
	for _, u := range s.users {
		users = append(users, consentUser{Email: u.Email})
		if req.loginHint != "" && (req.loginHint == u.Email || req.loginHint == u.Subject) {
			hint = u.Email
		}
	}
	s.mu.Unlock()
	if len(users) == 0 {
		s.authErrorPage(w, r, http.StatusInternalServerError, "server_error", "No users are registered; call AddUser")
		return
	}
	sort.Slice(users, func(i, j int) bool { return users[i].Email < users[j].Email })
	checked := false
	for i := range users {
		if users[i].Email == hint {
			users[i].Checked, checked = true, true
		}
	}
	if !checked {
		users[0].Checked = true
	}
	setHTMLHeaders(w)
	w.WriteHeader(http.StatusOK)
	consentPage().Execute(w, struct {
		ClientID, Action, ID string
		Users                []consentUser
		Scopes               []string
		Offline              bool
	}{req.clientID, r.URL.Path, id, users, req.scopes, req.offline})
}

// consentDecision handles the consent form: Deny redirects with
// access_denied; Allow issues a code for the chosen account.
func (s *Server) consentDecision(w http.ResponseWriter, r *http.Request) {
	id := r.PostForm.Get("consent")
	now := s.now()
	s.mu.Lock()
	s.authz.init()
	req, ok := s.authz.pending[id]
	delete(s.authz.pending, id) // one answer per page
	s.mu.Unlock()
	if !ok || !now.Before(req.expiry) {
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "This sign-in page expired or was already answered. Start the sign-in again from the app.")
		return
	}
	switch r.PostForm.Get("decision") {
	case "deny":
		s.log.Debug("fakegoogle: user denied consent", "client_id", req.clientID)
		redirectWith(w, r, req, url.Values{"error": {"access_denied"}})
		return
	case "allow":
	default:
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "The form carried no decision (allow or deny).")
		return
	}
	email := r.PostForm.Get("account")
	code := "4/0A" + randomToken(48)
	key := req.clientID + "\x00" + email
	s.mu.Lock()
	_, known := s.users[email]
	var scopes []string
	if known {
		scopes = slices.Clone(req.scopes)
		if req.includeGrantedScopes {
			for _, sc := range s.authz.granted[key] {
				if !slices.Contains(scopes, sc) {
					scopes = append(scopes, sc)
				}
			}
		}
		for k, c := range s.authz.codes {
			if !now.Before(c.expiry) {
				delete(s.authz.codes, k)
			}
		}
		s.authz.codes[code] = &authCode{
			req: *req, user: email, scopes: scopes, expiry: now.Add(authCodeLifetime),
			refresh: req.offline && (req.promptConsent || !s.authz.consented[key]),
		}
		s.authz.granted[key] = scopes
		if req.offline {
			s.authz.consented[key] = true
		}
	}
	s.mu.Unlock()
	if !known {
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "Choose one of the listed accounts.")
		return
	}
	s.log.Debug("fakegoogle: issued authorization code", "client_id", req.clientID, "user", email, "scopes", scopes)
	redirectWith(w, r, req, url.Values{
		"code": {code}, "scope": {strings.Join(scopes, " ")}, "authuser": {"0"},
		"prompt": {"consent"}, "iss": {googleIssuer},
	})
}

// authErrorPage is Google's error page for requests that cannot be
// redirected ("Error 400: redirect_uri_mismatch").
func (s *Server) authErrorPage(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	s.log.Debug("fakegoogle: authorization error page", "path", r.URL.Path, "status", status, "error", code)
	setHTMLHeaders(w)
	w.WriteHeader(status)
	errorPage().Execute(w, struct {
		Status     int
		Code, Desc string
	}{status, code, desc})
}

var errorPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Error {{.Status}}: {{.Code}}</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:3em auto">
<h1>Access blocked: Authorization Error</h1>
<p id="error">Error {{.Status}}: {{.Code}}</p>
<p>{{.Desc}}</p>
</body></html>
`))
})

func setHTMLHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", noStore)
	h.Set("X-Frame-Options", "DENY") // consent pages must not be framed (clickjacking)
	// No form-action: Chromium applies it to the redirect that follows
	// the form post, and that goes to the client's redirect URI.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
}

// codeTokenResponse is the token endpoint's answer to a code exchange, in
// Google's field order.
type codeTokenResponse struct {
	AccessToken  string `json:"access_token"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	IDToken      string `json:"id_token,omitempty"`
}

// Error texts Google gives for code exchanges (protocol.md §1.5).
const (
	descBadCode         = "Bad Request"
	descMissingVerifier = "Missing code verifier."
	descNoVerifier      = "code_verifier or verifier is not needed."
	descBadVerifier     = "Invalid code verifier."
)

// authorizationCodeGrant implements grant_type=authorization_code. A code
// is spent by the first exchange that names it with its client, whatever
// the outcome, so a verifier cannot be guessed; presenting a spent code
// again also revokes the tokens it gave, as Google does (RFC 6749 §4.1.2).
func (s *Server) authorizationCodeGrant(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	x, err := s.redeemCode(r, now)
	if err == nil {
		err = x.checkVerifier(r.PostForm.Get("code_verifier"))
	}
	var resp codeTokenResponse
	if err == nil {
		resp, err = s.answerCode(x, now)
	}
	if err != nil {
		s.writeRefusal(w, r, err)
		return
	}
	s.log.Debug("fakegoogle: exchanged authorization code", "client_id", x.clientID, "user", x.user.Email, "refresh_token", resp.RefreshToken != "")
	w.Header().Set("Cache-Control", noStore)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, contentTypeOAuth, resp)
}

// codeExchange is a code being redeemed: its entry (guarded by s.mu), a
// copy taken when it was spent, and its user.
type codeExchange struct {
	clientID string
	code     *authCode
	snapshot authCode
	user     User
}

// redeemCode checks the client and spends the code it names; a code
// presented again revokes what it gave.
func (s *Server) redeemCode(r *http.Request, now time.Time) (*codeExchange, error) {
	clientID, secret, err := tokenClient(r) // token.go
	if err != nil {
		return nil, err
	}
	codeValue := r.PostForm.Get("code")
	redirect := r.PostForm.Get("redirect_uri")
	x := &codeExchange{clientID: clientID}

	s.mu.Lock()
	s.authz.init()
	wantSecret, okClient := s.clients[clientID]
	c, okCode := s.authz.codes[codeValue]
	var replay bool
	var replayed []string
	live := okClient && secret == wantSecret && okCode && c.req.clientID == clientID && now.Before(c.expiry)
	if live {
		if c.used {
			replay, c.replayed = true, true
			replayed, c.issued = c.issued, nil
		} else {
			c.used = true
		}
		x.code, x.snapshot = c, *c
		if u, ok := s.users[c.user]; ok {
			x.user = *u
		}
	}
	s.mu.Unlock()

	if err := clientRefusal(okClient, secret, wantSecret); err != nil {
		return nil, err
	}
	switch {
	case codeValue == "":
		return nil, oauthRefusal("invalid_request", "Missing required parameter: code")
	case !live:
		return nil, oauthRefusal("invalid_grant", descBadCode)
	case replay:
		for _, tok := range replayed {
			s.revoke(tok)
		}
		s.log.Debug("fakegoogle: authorization code replayed", "client_id", clientID, "revoked", len(replayed))
		return nil, oauthRefusal("invalid_grant", descBadCode)
	case redirect == "":
		return nil, oauthRefusal("invalid_request", "Missing required parameter: redirect_uri")
	case redirect != x.snapshot.req.redirectURI:
		return nil, oauthRefusal("redirect_uri_mismatch", descBadCode)
	}
	return x, nil
}

// checkVerifier applies PKCE, and refuses a code whose user is gone.
func (x *codeExchange) checkVerifier(verifier string) error {
	req := x.snapshot.req
	switch {
	case req.challenge != "" && verifier == "":
		return oauthRefusal("invalid_grant", descMissingVerifier)
	case req.challenge == "" && verifier != "":
		return oauthRefusal("invalid_grant", descNoVerifier)
	case req.challenge != "" && !challengeMatches(req.challenge, req.method, verifier):
		return oauthRefusal("invalid_grant", descBadVerifier)
	case x.user.Email == "":
		return oauthRefusal("invalid_grant", descBadCode)
	}
	return nil
}

// answerCode mints the tokens of a redeemed code and records them on it,
// so that a replay revokes them; a replay that came while they were being
// minted revokes them at once.
func (s *Server) answerCode(x *codeExchange, now time.Time) (codeTokenResponse, error) {
	scopes := x.snapshot.scopes
	tok := "ya29.a0" + randomToken(96)
	resp := codeTokenResponse{AccessToken: tok, ExpiresIn: s.expiresIn(), Scope: strings.Join(scopes, " "), TokenType: "Bearer"}
	issued := []string{tok}
	if x.snapshot.refresh {
		resp.RefreshToken = "1//fake-" + randomToken(48)
		issued = append(issued, resp.RefreshToken)
	}
	if hasIdentityScope(scopes) {
		var err error
		if resp.IDToken, err = s.userIDToken(tok, x.clientID, x.snapshot.req.nonce, x.user, scopes, now); err != nil {
			return resp, err
		}
	}
	s.mu.Lock()
	if resp.RefreshToken != "" {
		s.refresh[resp.RefreshToken] = &refreshGrant{clientID: x.clientID, userEmail: x.user.Email, scopes: slices.Clone(scopes)}
	}
	x.code.issued = issued
	raced := x.code.replayed // replayed while this exchange ran
	s.mu.Unlock()
	s.storeAccess(tok, &accessGrant{
		clientID: x.clientID, subject: x.user.Subject, email: x.user.Email, scopes: slices.Clone(scopes),
		expiry: now.Add(time.Duration(s.expiresIn()) * time.Second), offline: resp.RefreshToken != "", refresh: resp.RefreshToken,
	})
	if raced {
		for _, t := range issued {
			s.revoke(t)
		}
		return codeTokenResponse{}, oauthRefusal("invalid_grant", descBadCode)
	}
	return resp, nil
}

// challengeMatches applies PKCE (RFC 7636 §4.6).
func challengeMatches(challenge, method, verifier string) bool {
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = b64.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}
