// Package oauthflow signs a user in to Google with OAuth 2.0 authorization
// codes, in the two shapes Google documents:
//
//   - the installed-app (desktop) flow, RunInstalled: a loopback redirect
//     on 127.0.0.1, PKCE S256 and a random state; it opens the system
//     browser (or prints the URL, or reads a pasted redirect URL or code),
//     waits without polling for the browser to come back, exchanges the
//     code and returns the tokens;
//   - the web-server flow, WebFlow: an authorization URL with Google's
//     parameters (access_type, prompt, include_granted_scopes, login_hint,
//     state, PKCE) and the callback handling of a Go web application,
//     then code exchange and refresh.
//
// Both build on golang.org/x/oauth2 (Config.AuthCodeURL, Exchange,
// GenerateVerifier, S256ChallengeOption); this package adds what it leaves
// to the application: the loopback server, the state check, the browser,
// Google's client-secret JSON (ParseClientJSON) and errors that say which
// step failed. Token-endpoint refusals are *gcptoken.Error values, so
// errors.Is(err, gcptoken.ErrInvalidCredentials) works as elsewhere.
//
// Every endpoint is configurable (Config.AuthURL, TokenURL, RevokeURL), so
// the flows run unchanged against fakegoogle.
package oauthflow
