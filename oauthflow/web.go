package oauthflow

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/gcptoken/gcptoken/internal/safetext"
)

// ErrStateMismatch means the redirect's state is not the one the flow
// sent: the response belongs to another sign-in, or is forged (CSRF).
var ErrStateMismatch = errors.New("the redirect's state does not match the sign-in request (a stale or forged response)")

// AuthorizationError is an error the authorization server sent back on the
// redirect instead of a code, e.g. access_denied when the user clicks Deny.
type AuthorizationError struct {
	// Code is the error parameter: access_denied, invalid_request,
	// invalid_scope, …
	Code string
	// Description is error_description, if any.
	Description string
}

// Error escapes Code and Description with safetext.OneLine: they come from
// the redirect's query, which any web page can forge, and end up on the
// terminal.
func (e *AuthorizationError) Error() string {
	msg := "the authorization server answered " + safetext.OneLine(e.Code)
	switch {
	case e.Description != "":
		msg += ": " + safetext.OneLine(e.Description)
	case e.Code == "access_denied":
		msg += ": the user did not allow access"
	}
	return msg
}

// WebFlow is the web-server flow for a Go web application: Start makes the
// authorization URL and the values to keep in the user's session, Finish
// checks the callback and exchanges the code.
//
//	pending, _ := flow.Start("")          // keep pending.State and Verifier in the session
//	http.Redirect(w, r, pending.URL, http.StatusFound)
//	…
//	tok, err := flow.Finish(ctx, pending, r.URL.Query()) // in the callback handler
type WebFlow struct {
	// Config is the client and endpoints. Required.
	Config *Config
	// RedirectURI is the callback URL registered for the web client.
	// Required.
	RedirectURI string
	// Params are Google's optional parameters; set Offline for a refresh
	// token.
	Params AuthParams
}

// Pending is one started sign-in. Keep State and Verifier server-side (a
// session), never in a URL.
type Pending struct {
	// URL is where to send the user's browser.
	URL string
	// State is the random state the callback must carry back.
	State string
	// Verifier is the PKCE code verifier for the exchange.
	Verifier string
}

func (f *WebFlow) validate() error {
	if f.Config == nil {
		return errors.New("oauthflow: WebFlow.Config is required")
	}
	if err := f.Config.validate(); err != nil {
		return err
	}
	if len(f.Config.Scopes) == 0 {
		return errors.New("oauthflow: Config.Scopes is required for sign-in")
	}
	u, err := url.Parse(f.RedirectURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("oauthflow: WebFlow.RedirectURI %q: want an absolute http(s) URL", f.RedirectURI)
	}
	return nil
}

// Start begins a sign-in with a fresh random state and PKCE verifier.
// loginHint, if set, overrides Params.LoginHint.
func (f *WebFlow) Start(loginHint string) (*Pending, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	p := f.Params
	if loginHint != "" {
		p.LoginHint = loginHint
	}
	pending := &Pending{State: randomState(), Verifier: oauth2.GenerateVerifier()}
	pending.URL = f.Config.AuthCodeURL(f.RedirectURI, pending.State, pending.Verifier, p)
	return pending, nil
}

// Finish handles the callback's query: an error parameter becomes an
// *AuthorizationError, a wrong state ErrStateMismatch; otherwise the code is
// exchanged. A Pending must be finished at most once.
func (f *WebFlow) Finish(ctx context.Context, p *Pending, query url.Values) (*Token, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	if p == nil || p.State == "" || p.Verifier == "" {
		return nil, errors.New("oauthflow: Finish: no pending sign-in (call Start and keep its State and Verifier)")
	}
	code, err := checkCallback(query, p.State)
	if err != nil {
		return nil, err
	}
	return f.Config.Exchange(ctx, code, f.RedirectURI, p.Verifier)
}

// checkCallback validates a redirect's query against the expected state and
// returns the code.
func checkCallback(q url.Values, state string) (string, error) {
	// The state is checked first: an error redirect with a foreign state
	// is as untrustworthy as a code.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		return "", ErrStateMismatch
	}
	if e := q.Get("error"); e != "" {
		return "", &AuthorizationError{Code: e, Description: q.Get("error_description")}
	}
	code := q.Get("code")
	if code == "" {
		return "", &AuthorizationError{Code: "invalid_request", Description: "the redirect carries neither a code nor an error"}
	}
	return code, nil
}
