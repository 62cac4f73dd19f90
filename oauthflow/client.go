package oauthflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kinds of OAuth client in Google's client-secret JSON: the top-level key
// of the file the Cloud console downloads.
const (
	// KindInstalled is a "Desktop app" client: loopback redirects on any
	// port, for RunInstalled.
	KindInstalled = "installed"
	// KindWeb is a "Web application" client: only its registered
	// redirect URIs, for WebFlow.
	KindWeb = "web"
)

// Client is an OAuth client read from Google's client-secret JSON.
type Client struct {
	// Kind is KindInstalled or KindWeb.
	Kind         string
	ClientID     string
	ClientSecret string
	ProjectID    string
	// AuthURI and TokenURI are the endpoints the file names ("" if it
	// names none).
	AuthURI  string
	TokenURI string
	// RedirectURIs are the registered redirect URIs (web clients).
	RedirectURIs []string
}

// clientFields is one object of the client-secret JSON. Google's
// golang.org/x/oauth2/google.ConfigFromJSON parses the same file, but it
// answers a wrong file with one generic error and pulls the metadata
// client into the import graph; here each wrong shape gets its own advice.
type clientFields struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	ProjectID    string   `json:"project_id"`
	AuthURI      string   `json:"auth_uri"`
	TokenURI     string   `json:"token_uri"`
	RedirectURIs []string `json:"redirect_uris"`
}

// maxClientFile bounds the client JSON: real ones are under 1 KiB.
const maxClientFile = 64 << 10

// ParseClientJSON parses Google's OAuth client-secret JSON, the
// {"installed": {…}} or {"web": {…}} file the Cloud console downloads for
// an OAuth client ID. Errors never quote the file's values (the secret);
// callers prefix them with the file name.
func ParseClientJSON(data []byte) (*Client, error) {
	if len(data) > maxClientFile {
		return nil, fmt.Errorf("is %d bytes; an OAuth client JSON is under 1 KiB", len(data))
	}
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not JSON (syntax error at byte %d)", se.Offset)
		}
		return nil, errors.New("not a JSON object: want Google's OAuth client JSON ({\"installed\": {…}} or {\"web\": {…}})")
	}
	if raw, ok := top["type"]; ok {
		var typ string
		json.Unmarshal(raw, &typ)
		return nil, fmt.Errorf("is a %q credential, not an OAuth client: download the client ID JSON of a Desktop app client (Google Cloud console, APIs & Services, Credentials)", typ)
	}
	inst, hasInst := top[KindInstalled]
	web, hasWeb := top[KindWeb]
	var kind string
	var raw json.RawMessage
	switch {
	case hasInst && hasWeb:
		return nil, errors.New(`has both "installed" and "web" objects; want one OAuth client`)
	case hasInst:
		kind, raw = KindInstalled, inst
	case hasWeb:
		kind, raw = KindWeb, web
	default:
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, fmt.Sprintf("%q", k))
		}
		slices.Sort(keys)
		return nil, fmt.Errorf("has no \"installed\" or \"web\" object (top-level keys: %s): want Google's OAuth client JSON", strings.Join(keys, ", "))
	}
	var f clientFields
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%q: not an OAuth client object: a field has the wrong type", kind)
	}
	if f.ClientID == "" {
		return nil, fmt.Errorf("%q: client_id is missing or empty", kind)
	}
	if kind == KindWeb && len(f.RedirectURIs) == 0 {
		return nil, fmt.Errorf("%q: redirect_uris is empty: register the application's callback URL for this web client", kind)
	}
	return &Client{
		Kind: kind, ClientID: f.ClientID, ClientSecret: f.ClientSecret, ProjectID: f.ProjectID,
		AuthURI: f.AuthURI, TokenURI: f.TokenURI, RedirectURIs: f.RedirectURIs,
	}, nil
}

// Config returns a Config for the client: its id and secret, and its
// endpoints unless they are Google's defaults (so "" keeps the package
// defaults, and a file pointing at a fake keeps pointing there).
func (c *Client) Config(scopes ...string) *Config {
	return &Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Scopes:       scopes,
		AuthURL:      c.AuthURI,
		TokenURL:     c.TokenURI,
	}
}
