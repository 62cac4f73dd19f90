package fakegoogle

import (
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The OAuth 2.0 device authorization grant as Google serves it (RFC 8628
// with Google's names, protocol.md §1.6): POST /device/code hands out a
// device code and a user code, the user enters the code at
// verification_url (the fake's page at /device, or ApproveDeviceCode), and
// the device polls the token endpoint with
// grant_type=urn:ietf:params:oauth:grant-type:device_code.

const grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

// Google's device-flow numbers [obs: the device/code answer].
const (
	deviceCodeLifetime  = 30 * time.Minute
	defaultPollInterval = 5 * time.Second
	// pollLeeway forgives a poll that arrives a little early: a client
	// that ticks every interval sees network and scheduling jitter.
	pollLeeway = 250 * time.Millisecond
)

// deviceFlowScopes are the only scopes Google allows in the device flow
// ("Allowed scopes" of its TV and limited-input guide); any other gets
// invalid_scope "Invalid device flow scope: …" [obs].
var deviceFlowScopes = []string{
	scopeOpenID, scopeEmail, scopeProfile,
	"https://www.googleapis.com/auth/drive.appdata", "https://www.googleapis.com/auth/drive.file",
	"https://www.googleapis.com/auth/youtube", "https://www.googleapis.com/auth/youtube.readonly",
}

// Texts of the token endpoint's device-flow answers. [obs] the 428 for a
// pending code (a third-party capture); [?] the others, whose codes and
// statuses are those of Google's guide.
const (
	descPending     = "Precondition Failed"
	descSlowDown    = "Forbidden"
	descDenied      = "Forbidden"
	descExpired     = "Expired device code."
	descBadDevice   = "Malformed auth code."
	devicePageTitle = "Connect a device - Fake Google Accounts"
)

// deviceState is the device flow's share of the registry; all access holds
// Server.mu. Maps are created on first use.
type deviceState struct {
	byDevice map[string]*deviceGrant // device_code → grant
	byUser   map[string]string       // normalised user_code → device_code
	pages    map[string]string       // confirmation page nonce → device_code
}

func (d *deviceState) init() {
	if d.byDevice == nil {
		d.byDevice, d.byUser, d.pages = map[string]*deviceGrant{}, map[string]string{}, map[string]string{}
	}
}

// deviceGrant is one device authorization request.
type deviceGrant struct {
	clientID string
	scopes   []string // expanded
	userCode string
	expiry   time.Time
	lastPoll time.Time
	user     string // approving user's email; "" while pending
	denied   bool
	spent    bool // tokens were issued
}

// deviceCodeResponse is /device/code's answer, in Google's field order.
type deviceCodeResponse struct {
	DeviceCode      string `json:"device_code"`
	UserCode        string `json:"user_code"`
	ExpiresIn       int64  `json:"expires_in"`
	Interval        int64  `json:"interval"`
	VerificationURL string `json:"verification_url"`
}

// DeviceVerificationURL returns the page where users enter device codes:
// BaseURL()+"/device". Under Google's host names (googlehosts) the fake
// hands out Google's https://www.google.com/device instead.
func (s *Server) DeviceVerificationURL() string { return s.BaseURL() + "/device" }

// handleDeviceCode serves POST /device/code.
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodPost) || !s.parseForm(w, r) {
		return
	}
	clientID, scope := r.PostForm.Get("client_id"), r.PostForm.Get("scope")
	s.mu.Lock()
	_, known := s.clients[clientID]
	s.mu.Unlock()
	switch {
	case clientID == "":
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", "Missing required parameter: client_id")
		return
	case !known:
		s.writeOAuthError(w, r, http.StatusUnauthorized, "invalid_client", descClientNotFound)
		return
	case strings.TrimSpace(scope) == "":
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", "Missing required parameter: scope")
		return
	}
	scopes := expandScopes(scope)
	for _, sc := range scopes {
		if !slices.Contains(deviceFlowScopes, sc) {
			s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_scope", "Invalid device flow scope: "+sc)
			return
		}
	}
	now := s.now()
	deviceCode, userCode := "AH-1Ng"+randomToken(48), newUserCode()
	s.mu.Lock()
	s.device.init()
	for dc, g := range s.device.byDevice {
		if !now.Before(g.expiry.Add(deviceCodeLifetime)) { // kept a while to answer expired_token
			delete(s.device.byDevice, dc)
			delete(s.device.byUser, normaliseUserCode(g.userCode))
		}
	}
	s.device.byDevice[deviceCode] = &deviceGrant{clientID: clientID, scopes: scopes, userCode: userCode, expiry: now.Add(deviceCodeLifetime)}
	s.device.byUser[normaliseUserCode(userCode)] = deviceCode
	s.mu.Unlock()
	verify := s.baseFor(r) + "/device"
	if onGoogleHost(r) {
		verify = "https://www.google.com/device"
	}
	s.log.Debug("fakegoogle: issued device code", "client_id", clientID, "scopes", scopes)
	w.Header().Set("Cache-Control", noStore)
	writeJSON(w, http.StatusOK, contentTypeOAuth, deviceCodeResponse{
		DeviceCode: deviceCode, UserCode: userCode, ExpiresIn: int64(deviceCodeLifetime / time.Second),
		Interval: int64(s.pollInterval / time.Second), VerificationURL: verify,
	})
}

// onGoogleHost reports whether r reached the fake under one of Google's
// host names over TLS (the googlehosts front).
func onGoogleHost(r *http.Request) bool {
	host, _, _ := strings.Cut(strings.ToLower(r.Host), ":")
	return r.TLS != nil && (strings.HasSuffix(host, ".googleapis.com") || strings.HasSuffix(host, ".google.com"))
}

// userCodeAlphabet has no letters that read alike (I, O, L, U, S, Z).
const userCodeAlphabet = "ABCDEFGHJKMNPQRTVWXY"

// newUserCode returns a code like Google's "ABCD-EFGH".
func newUserCode() string {
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = userCodeAlphabet[int(b[i])%len(userCodeAlphabet)]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// normaliseUserCode makes entered codes match however they were typed.
func normaliseUserCode(c string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(c)))
}

// deviceCodeGrant implements grant_type=urn:ietf:params:oauth:grant-type:device_code.
func (s *Server) deviceCodeGrant(w http.ResponseWriter, r *http.Request) {
	bad := func(status int, code, desc string) { s.writeOAuthError(w, r, status, code, desc) }
	clientID, secret, err := clientCredentials(r)
	if err != nil {
		bad(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	deviceCode := r.PostForm.Get("device_code")
	now := s.now()
	s.mu.Lock()
	s.device.init()
	wantSecret, okClient := s.clients[clientID]
	g, okCode := s.device.byDevice[deviceCode]
	var snap deviceGrant
	early := false
	if okCode && okClient && secret == wantSecret && g.clientID == clientID {
		early = !g.lastPoll.IsZero() && now.Sub(g.lastPoll) < s.pollInterval-pollLeeway
		g.lastPoll = now
		snap = *g
		if g.user != "" && !g.spent && !early && now.Before(g.expiry) {
			g.spent = true // one set of tokens per approval: this poll gets them
		}
	}
	s.mu.Unlock()
	switch {
	case clientID == "":
		bad(http.StatusBadRequest, "invalid_request", "Could not determine client ID from request.")
	case !okClient:
		bad(http.StatusUnauthorized, "invalid_client", descClientNotFound)
	case secret != wantSecret:
		bad(http.StatusUnauthorized, "invalid_client", descBadSecret)
	case deviceCode == "":
		bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: device_code")
	case !okCode || snap.clientID != clientID || snap.spent:
		bad(http.StatusBadRequest, "invalid_grant", descBadDevice)
	case !now.Before(snap.expiry):
		bad(http.StatusBadRequest, "expired_token", descExpired)
	case snap.denied:
		bad(http.StatusForbidden, "access_denied", descDenied)
	case early:
		bad(http.StatusForbidden, "slow_down", descSlowDown)
	case snap.user == "":
		bad(http.StatusPreconditionRequired, "authorization_pending", descPending)
	default:
		s.issueDeviceTokens(w, r, &snap)
	}
}

// issueDeviceTokens answers an approved device code: an access token, a
// refresh token (device grants are offline) and, for identity scopes, an ID
// token.
func (s *Server) issueDeviceTokens(w http.ResponseWriter, r *http.Request, g *deviceGrant) {
	user, ok := s.findUser(g.user)
	if !ok {
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_grant", descBadDevice)
		return
	}
	now := s.now()
	tok, rt := "ya29.a0"+randomToken(96), "1//fake-"+randomToken(48)
	resp := codeTokenResponse{AccessToken: tok, ExpiresIn: s.expiresIn(), RefreshToken: rt, Scope: strings.Join(g.scopes, " "), TokenType: "Bearer"}
	if hasIdentityScope(g.scopes) {
		var err error
		if resp.IDToken, err = s.userIDToken(tok, g.clientID, "", user, g.scopes, now); err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	s.mu.Lock()
	s.refresh[rt] = &refreshGrant{clientID: g.clientID, userEmail: user.Email, scopes: slices.Clone(g.scopes)}
	s.mu.Unlock()
	s.storeAccess(tok, &accessGrant{clientID: g.clientID, subject: user.Subject, email: user.Email, scopes: slices.Clone(g.scopes),
		expiry: now.Add(time.Duration(s.expiresIn()) * time.Second), offline: true, refresh: rt})
	s.log.Debug("fakegoogle: device code exchanged", "client_id", g.clientID, "user", user.Email)
	w.Header().Set("Cache-Control", noStore)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, contentTypeOAuth, resp)
}

// ApproveDeviceCode approves the pending device authorization with user
// code userCode for the registered user userEmail, as if the user had
// entered the code at verification_url and allowed it. The device's next
// poll gets its tokens.
func (s *Server) ApproveDeviceCode(userCode, userEmail string) error {
	return s.decideDeviceCode(userCode, userEmail, false)
}

// DenyDeviceCode refuses the pending device authorization with user code
// userCode; the device's next poll gets access_denied.
func (s *Server) DenyDeviceCode(userCode string) error {
	return s.decideDeviceCode(userCode, "", true)
}

var errNoDeviceCode = errors.New("no pending device authorization has this code; check it, or start again on the device")

func (s *Server) decideDeviceCode(userCode, userEmail string, deny bool) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.device.init()
	g := s.device.byDevice[s.device.byUser[normaliseUserCode(userCode)]]
	switch {
	case g == nil || !now.Before(g.expiry) || g.user != "" || g.denied:
		return fmt.Errorf("fakegoogle: device code %q: %w", userCode, errNoDeviceCode)
	case deny:
		g.denied = true
	case s.users[userEmail] == nil:
		return fmt.Errorf("fakegoogle: approve device code %q: unknown user %q; call AddUser first", userCode, userEmail)
	default:
		g.user = userEmail
	}
	return nil
}

// The approval pages. GET /device asks for the code; POST with user_code
// shows what the device asks for, with an account chooser and a one-time
// nonce; POST with the nonce records the decision. The nonce, which a page
// of another site cannot read, keeps such a page from approving a device
// for the user with a code of its own choosing.
var devicePage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("device").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>` + devicePageTitle + `</title>
<style>
body{font-family:sans-serif;background:#f0f4f9;margin:0}
main{background:#fff;max-width:32em;margin:3em auto;padding:2em 2.5em;border-radius:1.5em}
h1{font-weight:400;margin-top:0}.client{font-family:monospace;word-break:break-all}
label{display:block;padding:.6em;border-bottom:1px solid #dde}input[name=user_code]{font-size:1.4em;letter-spacing:.1em}
.buttons{display:flex;justify-content:flex-end;gap:1em;margin-top:1.5em}
button{font-size:1em;padding:.6em 1.6em;border-radius:2em;border:1px solid #747775;background:#fff}
#allow,#next{background:#0b57d0;color:#fff;border-color:#0b57d0}.note{color:#5f6368;font-size:.85em}.error{color:#b3261e}
</style></head>
<body><main>
{{if .Done}}<h1>{{.Done}}</h1><p>You may close this page and return to your device.</p>
{{else if .Nonce}}<h1>Allow this device?</h1>
<p>A device with the code <b>{{.UserCode}}</b> wants to use</p><p class="client">{{.ClientID}}</p>
<form method="post" action="{{.Action}}"><input type="hidden" name="nonce" value="{{.Nonce}}">
{{range .Users}}<label><input type="radio" name="account" value="{{.Email}}"{{if .Checked}} checked{{end}}> {{.Email}}</label>
{{end}}<p>It is asking to:</p><ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<div class="buttons"><button type="submit" name="decision" value="deny" id="deny">Deny</button>
<button type="submit" name="decision" value="allow" id="allow">Allow</button></div></form>
{{else}}<h1>Connect a device</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}"><p><label>Enter the code displayed on your device<br>
<input name="user_code" value="{{.UserCode}}" autocomplete="off" autofocus></label></p>
<div class="buttons"><button type="submit" id="next">Next</button></div></form>
{{end}}<p class="note">fakegoogle: a fake of Google's device page for tests; nothing here is Google.</p>
</main></body></html>
`))
})

type devicePageData struct {
	Done, Error, Nonce, UserCode, ClientID, Action string
	Users                                          []consentUser
	Scopes                                         []string
}

// handleDevicePage serves /device.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.authErrorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "Method "+r.Method+" is not allowed; use GET.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.authErrorPage(w, r, http.StatusBadRequest, "invalid_request", "Cannot parse the request: "+err.Error())
		return
	}
	page := devicePageData{Action: r.URL.Path, UserCode: r.Form.Get("user_code")}
	status := http.StatusOK
	switch {
	case r.Method == http.MethodPost && r.PostForm.Has("nonce"):
		status, page = s.deviceDecision(r, page)
	case r.Method == http.MethodPost:
		status, page = s.deviceConfirmation(page)
	}
	setHTMLHeaders(w)
	w.WriteHeader(status)
	devicePage().Execute(w, page)
}

// deviceConfirmation looks up an entered code and fills the confirmation
// page, with a new nonce.
func (s *Server) deviceConfirmation(page devicePageData) (int, devicePageData) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.device.init()
	dc := s.device.byUser[normaliseUserCode(page.UserCode)]
	g := s.device.byDevice[dc]
	if g == nil || !now.Before(g.expiry) || g.user != "" || g.denied {
		page.Error = "That code didn't work. Check the code and try again."
		return http.StatusBadRequest, page
	}
	page.Nonce = randomToken(24)
	s.device.pages[page.Nonce] = dc
	page.UserCode, page.ClientID, page.Scopes = g.userCode, g.clientID, g.scopes
	for _, u := range s.users {
		page.Users = append(page.Users, consentUser{Email: u.Email})
	}
	sort.Slice(page.Users, func(i, j int) bool { return page.Users[i].Email < page.Users[j].Email })
	if len(page.Users) > 0 {
		page.Users[0].Checked = true
	}
	return http.StatusOK, page
}

// deviceDecision records the answer of a confirmation page.
func (s *Server) deviceDecision(r *http.Request, page devicePageData) (int, devicePageData) {
	nonce := r.PostForm.Get("nonce")
	s.mu.Lock()
	s.device.init()
	dc, ok := s.device.pages[nonce]
	delete(s.device.pages, nonce) // one answer per page
	var userCode string
	if g := s.device.byDevice[dc]; ok && g != nil {
		userCode = g.userCode
	}
	s.mu.Unlock()
	if userCode == "" {
		page.Error = "This page expired or was already answered. Enter the code again."
		return http.StatusBadRequest, page
	}
	var err error
	switch r.PostForm.Get("decision") {
	case "allow":
		err = s.ApproveDeviceCode(userCode, r.PostForm.Get("account"))
		page.Done = "Device connected"
	case "deny":
		err = s.DenyDeviceCode(userCode)
		page.Done = "Access denied"
	default:
		err = errors.New("the form carried no decision (allow or deny)")
	}
	if err != nil {
		page.Done, page.Error = "", "That didn't work: "+strings.TrimPrefix(err.Error(), "fakegoogle: ")
		return http.StatusBadRequest, page
	}
	return http.StatusOK, page
}
