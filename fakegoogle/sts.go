package fakegoogle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The Security Token Service (sts.googleapis.com/v1/token, protocol.md §7).
// Two exchanges are modelled: downscoping, an access token of this fake
// exchanged for one restricted by a Credential Access Boundary (§7.2); and
// workload identity federation, an external subject token (AWS or OIDC)
// exchanged for a federated principal's token (federation.go).

const (
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

	// maxBoundaryRules is STS's limit on accessBoundaryRules.
	maxBoundaryRules = 10
	// inRolePrefix starts every availablePermissions entry.
	inRolePrefix = "inRole:"
)

// stsSubjectTokenTypes are the federation subject token types STS accepts;
// stsFederate answers SAML and mTLS as unmodelled rather than invalid.
var stsSubjectTokenTypes = []string{
	"urn:ietf:params:oauth:token-type:jwt",
	"urn:ietf:params:oauth:token-type:id_token",
	"urn:ietf:params:aws:token-type:aws4_request",
	"urn:ietf:params:oauth:token-type:saml2",
	"urn:ietf:params:oauth:token-type:mtls",
}

// STSURL returns the URL that takes the place of
// https://sts.googleapis.com/v1/token: BaseURL()+"/v1/token", or "" until
// SetBaseURL.
func (s *Server) STSURL() string {
	base := s.BaseURL()
	if base == "" {
		return ""
	}
	return base + "/v1/token"
}

// stsTokenResponse is STS's success body, in its field order.
type stsTokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
}

// writeCompactJSON writes v on one line, as STS does (the OAuth endpoints
// indent theirs).
func writeCompactJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "fakegoogle: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentTypeOAuth)
	w.Header().Set("Cache-Control", noStore)
	w.WriteHeader(status)
	w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

func (s *Server) stsError(w http.ResponseWriter, r *http.Request, code, desc string) {
	s.log.Debug("fakegoogle: STS error", "path", r.URL.Path, "error", code, "description", desc)
	writeCompactJSON(w, http.StatusBadRequest, oauthError{Error: code, Description: desc})
}

// handleSTSToken serves POST /v1/token, STS's token exchange, with a form
// or a JSON body (sts_json.go).
func (s *Server) handleSTSToken(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodPost) || !s.parseSTSBody(w, r) {
		return
	}
	form := r.PostForm
	if gt := form.Get("grant_type"); gt != grantTokenExchange {
		s.stsError(w, r, "invalid_request", fmt.Sprintf("Invalid value for \"grant_type\": %q; want %q", gt, grantTokenExchange))
		return
	}
	if rt := form.Get("requested_token_type"); rt != tokenTypeAccessToken {
		s.stsError(w, r, "invalid_request", fmt.Sprintf("Invalid value for \"requested_token_type\": %q; want %q", rt, tokenTypeAccessToken))
		return
	}
	if form.Get("subject_token") == "" {
		s.stsError(w, r, "invalid_request", `Missing required field "subject_token".`)
		return
	}
	switch st := form.Get("subject_token_type"); {
	case st == tokenTypeAccessToken:
		s.stsDownscope(w, r)
	case st == "":
		s.stsError(w, r, "invalid_request", `Missing required field "subject_token_type".`)
	case slices.Contains(stsSubjectTokenTypes, st):
		s.stsFederate(w, r, st)
	default:
		s.stsError(w, r, "invalid_request", fmt.Sprintf("Invalid value for \"subject_token_type\": %q", st))
	}
}

// stsOptions is the part of the options parameter the fake reads. It is
// decoded here rather than with the client's structs (see the package's
// test helpers), so a misspelt field cannot hide on both sides.
type stsOptions struct {
	AccessBoundary *stsAccessBoundary `json:"accessBoundary"`
}

type stsAccessBoundary struct {
	Rules []stsBoundaryRule `json:"accessBoundaryRules"`
}

type stsBoundaryRule struct {
	AvailableResource     string        `json:"availableResource"`
	AvailablePermissions  []string      `json:"availablePermissions"`
	AvailabilityCondition *stsCondition `json:"availabilityCondition,omitempty"`
}

type stsCondition struct {
	Expression  string `json:"expression"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// parseSTSOptions decodes options as raw JSON (Go, Node) or, failing that,
// as percent-encoded JSON (Python quotes it before form-encoding;
// protocol.md §10 item 10).
func parseSTSOptions(raw string) (*stsOptions, error) {
	var o stsOptions
	err := json.Unmarshal([]byte(raw), &o)
	if err == nil {
		return &o, nil
	}
	unescaped, uerr := url.PathUnescape(raw)
	if uerr != nil || unescaped == raw {
		return nil, err
	}
	o = stsOptions{}
	if err := json.Unmarshal([]byte(unescaped), &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// checkBoundary validates a Credential Access Boundary as STS does; the
// error is the error_description.
func checkBoundary(b *stsAccessBoundary) error {
	if b == nil {
		return errors.New(`Missing "accessBoundary" in "options": downscoping an access token needs a Credential Access Boundary.`)
	}
	switch n := len(b.Rules); {
	case n == 0:
		return errors.New(`"accessBoundary.accessBoundaryRules" must contain at least one rule.`)
	case n > maxBoundaryRules:
		return fmt.Errorf(`"accessBoundary.accessBoundaryRules" has %d rules; at most %d are allowed.`, n, maxBoundaryRules)
	}
	for i, rule := range b.Rules {
		field := fmt.Sprintf("accessBoundary.accessBoundaryRules[%d]", i)
		if strings.TrimSpace(rule.AvailableResource) == "" {
			return fmt.Errorf(`%q is missing or empty.`, field+".availableResource")
		}
		if len(rule.AvailablePermissions) == 0 {
			return fmt.Errorf(`%q is missing or empty.`, field+".availablePermissions")
		}
		for j, p := range rule.AvailablePermissions {
			if !strings.HasPrefix(p, inRolePrefix) || len(p) == len(inRolePrefix) {
				return fmt.Errorf(`%q: %q must be "inRole:" followed by a role, e.g. "inRole:roles/storage.objectViewer".`,
					fmt.Sprintf("%s.availablePermissions[%d]", field, j), p)
			}
		}
		if c := rule.AvailabilityCondition; c != nil && strings.TrimSpace(c.Expression) == "" {
			return fmt.Errorf(`%q is missing or empty.`, field+".availabilityCondition.expression")
		}
	}
	return nil
}

// stsDownscope exchanges an access token of this fake for a downscoped
// one: the same principal, scopes and expiry, plus the boundary, which
// tokeninfo reports as "access_boundary".
func (s *Server) stsDownscope(w http.ResponseWriter, r *http.Request) {
	raw := r.PostForm.Get("options")
	if raw == "" {
		s.stsError(w, r, "invalid_request", `Missing "options": downscoping an access token needs {"accessBoundary":{…}}.`)
		return
	}
	opts, err := parseSTSOptions(raw)
	if err != nil {
		s.stsError(w, r, "invalid_request", `Invalid value for "options": want a JSON object, raw or percent-encoded: `+err.Error())
		return
	}
	if err := checkBoundary(opts.AccessBoundary); err != nil {
		s.stsError(w, r, "invalid_request", err.Error())
		return
	}
	var boundary bytes.Buffer
	enc := json.NewEncoder(&boundary)
	enc.SetEscapeHTML(false) // CEL expressions hold && and <; keep them readable
	if err := enc.Encode(opts.AccessBoundary); err != nil {
		s.internalError(w, r, err)
		return
	}
	now := s.now()
	subject, ok := s.lookupAccess(r.PostForm.Get("subject_token"))
	if !ok {
		s.stsError(w, r, "invalid_grant", "The subject_token is invalid: not an access token of this fake, or revoked or expired.")
		return
	}
	if subject.boundary != "" {
		s.stsError(w, r, "invalid_grant", "The subject_token already carries a Credential Access Boundary and cannot be downscoped again.")
		return
	}
	g := *subject
	g.scopes = append([]string(nil), subject.scopes...)
	g.boundary = strings.TrimSpace(boundary.String())
	tok := "ya29.d." + randomToken(96)
	s.storeAccess(tok, &g)
	s.log.Debug("fakegoogle: issued downscoped access token", "subject", g.email, "rules", len(opts.AccessBoundary.Rules))
	writeCompactJSON(w, http.StatusOK, stsTokenResponse{
		AccessToken:     tok,
		IssuedTokenType: tokenTypeAccessToken,
		TokenType:       "Bearer",
		ExpiresIn:       int64(g.expiry.Sub(now) / time.Second),
	})
}
