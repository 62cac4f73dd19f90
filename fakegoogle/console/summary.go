package console

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// summarizer fills an entry's columns (endpoint, grant, principal, target,
// error, what was issued) from one exchange's raw values. It reads
// secrets to look tokens up in the fake, and writes none into the entry.
type summarizer struct {
	fake      *fakegoogle.Server
	e         *entry
	params    url.Values // query and form together
	req, resp body
	header    map[string][]string // the request's
	respHead  map[string][]string // the answer's (with gRPC's trailers)
	at        time.Time
}

// endpoints names the fake's paths, by prefix, longest first where they
// overlap.
var endpoints = []struct{ prefix, name string }{
	{"/token", "token endpoint"}, {"/o/oauth2/token", "token endpoint"}, {"/oauth2/v4/token", "token endpoint"},
	{"/device/code", "device authorization"}, {"/device", "device approval page"},
	{"/revoke", "revoke"}, {"/o/oauth2/revoke", "revoke"},
	{"/o/oauth2/v2/auth", "authorization (consent page)"}, {"/o/oauth2/auth", "authorization (consent page)"},
	{"/tokeninfo", "tokeninfo"}, {"/oauth2/v3/tokeninfo", "tokeninfo"}, {"/oauth2/v2/tokeninfo", "tokeninfo"},
	{"/oauth2/v1/tokeninfo", "tokeninfo"}, {"/v1/userinfo", "userinfo"}, {"/oauth2/v3/userinfo", "userinfo"},
	{"/oauth2/v2/userinfo", "userinfo"}, {"/oauth2/v1/userinfo", "userinfo"},
	{"/oauth2/v3/certs", "Google's signing keys"}, {"/oauth2/v1/certs", "Google's signing keys"},
	{"/robot/v1/metadata/", "service account keys"}, {"/service_accounts/v1/", "service account keys"},
	{"/.well-known/openid-configuration", "OpenID discovery"},
	{"/sample/", "sample service"}, {"/iap/", "Identity-Aware Proxy"},
	{"/v1/projects/-/serviceAccounts/", "IAM Credentials"}, {"/v1/projects/", "Resource Manager"},
	{"/v3/projects/", "Resource Manager"}, {"/google.iam.credentials.v1.IAMCredentials/", "IAM Credentials (gRPC)"},
	{"/v1/token", "STS token exchange"}, {"/v1/oauthtoken", "STS workforce refresh"},
	{"/v1/introspect", "STS introspection"}, {"/latest/", "AWS instance metadata"}, {"/fakeidp/", "fake OIDC provider"},
}

func endpointName(path string) string {
	for _, ep := range endpoints {
		if path == ep.prefix || strings.HasSuffix(ep.prefix, "/") && strings.HasPrefix(path, ep.prefix) {
			return ep.name
		}
	}
	if strings.HasPrefix(path, "/v1/projects/") && strings.Contains(path, "/serviceAccounts/") {
		return "IAM Credentials"
	}
	return "not modelled"
}

// grantNames shortens grant type URNs.
var grantNames = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"urn:ietf:params:oauth:grant-type:jwt-bearer":     "jwt-bearer",
		"urn:ietf:params:oauth:grant-type:token-exchange": "token-exchange",
		"urn:ietf:params:oauth:grant-type:device_code":    "device_code",
	}
})

func (s *summarizer) summarize() {
	e := s.e
	e.Endpoint = endpointName(e.Path)
	if gt := s.params.Get("grant_type"); gt != "" {
		e.Grant = gt
		if short, ok := grantNames()[gt]; ok {
			e.Grant = short
		}
	}
	switch e.Endpoint {
	case "token endpoint":
		s.tokenEndpoint()
	case "STS token exchange":
		s.stsExchange()
	case "IAM Credentials", "IAM Credentials (gRPC)":
		s.iamCredentials()
	case "tokeninfo":
		s.principalOfToken(s.params.Get("access_token") + s.params.Get("id_token"))
	}
	if e.Principal == "" {
		s.principalOfToken(bearer(s.header))
	}
	s.issued()
	s.googleError()
}

// bearer is the token of an Authorization: Bearer header.
func bearer(h map[string][]string) string {
	v := first(h, "Authorization")
	if scheme, tok, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

func first(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// principalOfToken sets the principal from a token: whom the fake issued
// it to, or what a JWT says of its subject.
func (s *summarizer) principalOfToken(tok string) {
	if tok == "" {
		return
	}
	if it, ok := s.fake.LookupToken(tok); ok {
		s.e.Principal = it.Principal
		return
	}
	if d, err := jwtinfo.Decode(tok); err == nil {
		s.e.Principal = jwtPrincipal(d)
		if s.e.Target == "" {
			s.e.Target = strings.Join(d.Audience(), " ")
		}
		return
	}
	s.e.Principal = "(a token the fake does not know)"
}

// jwtPrincipal is who a JWT speaks for: its email, else iss/sub.
func jwtPrincipal(d *jwtinfo.Decoded) string {
	str := func(k string) string { v, _ := d.Claims[k].(string); return v }
	switch {
	case str("email") != "":
		return str("email")
	case str("iss") != "" && str("sub") != "" && str("sub") != str("iss"):
		return str("sub") + " (from " + str("iss") + ")"
	}
	return str("iss")
}

// tokenEndpoint summarizes the token endpoint's grants.
func (s *summarizer) tokenEndpoint() {
	e, p := s.e, s.params
	switch e.Grant {
	case "jwt-bearer":
		d, err := jwtinfo.Decode(p.Get("assertion"))
		if err != nil {
			return
		}
		str := func(k string) string { v, _ := d.Claims[k].(string); return v }
		e.Principal = str("iss")
		if sub := str("sub"); sub != "" && sub != str("iss") {
			e.Principal += " as " + sub + " (domain-wide delegation)"
		}
		e.Target = str("scope")
		if aud := str("target_audience"); aud != "" {
			e.Target = "ID token for " + aud
		}
	case "refresh_token":
		s.principalOfToken(p.Get("refresh_token"))
		e.Target = p.Get("scope")
	}
	if id := p.Get("client_id"); id != "" && e.Principal == "" {
		e.Principal = "client " + id
	}
}

// stsExchange summarizes STS: downscoping (an access token as subject) or
// federation (an external token).
func (s *summarizer) stsExchange() {
	e, p := s.e, s.params
	subject := p.Get("subject_token")
	if strings.HasSuffix(p.Get("subject_token_type"), ":access_token") {
		s.principalOfToken(subject)
		e.Target = "downscoped (Credential Access Boundary)"
		return
	}
	e.Target = strings.TrimSpace(p.Get("audience") + " " + p.Get("scope"))
	if d, err := jwtinfo.Decode(subject); err == nil {
		e.Principal = jwtPrincipal(d)
	} else if subject != "" {
		e.Principal = "an AWS identity (signed GetCallerIdentity)"
	}
}

// iamCredentials summarizes an IAM Credentials call: the caller, the
// method and whom it asks to act as.
func (s *summarizer) iamCredentials() {
	e := s.e
	s.principalOfToken(bearer(s.header))
	last := e.Path[strings.LastIndex(e.Path, "/")+1:]
	if e.Endpoint == "IAM Credentials (gRPC)" {
		e.Grant = last
		return
	}
	name, method, _ := strings.Cut(last, ":")
	if u, err := url.PathUnescape(name); err == nil {
		name = u
	}
	e.Grant = method
	e.Target = "as " + name
	if m, ok := s.req.json.(map[string]any); ok {
		for _, k := range []string{"scope", "audience", "lifetime", "delegates"} {
			switch v := m[k].(type) {
			case nil:
			case []any:
				parts := make([]string, len(v))
				for i, x := range v {
					parts[i] = fmt.Sprint(x)
				}
				e.Target += fmt.Sprintf("; %s %s", k, strings.Join(parts, " "))
			default:
				e.Target += fmt.Sprintf("; %s %v", k, v)
			}
		}
	}
}

// issued lists what a successful answer handed out, masked.
func (s *summarizer) issued() {
	m, ok := s.resp.json.(map[string]any)
	if !ok || s.e.Status >= 400 {
		return
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	for _, k := range []string{"access_token", "accessToken"} {
		if tok := str(k); tok != "" {
			s.e.Issued = append(s.e.Issued, s.accessIssued(tok))
		}
	}
	for _, k := range []string{"id_token", "token", "signedJwt"} {
		if tok := str(k); tok != "" {
			what := "an ID token"
			if k == "signedJwt" {
				what = "a signed JWT"
			}
			s.e.Issued = append(s.e.Issued, fmt.Sprintf("%s, fingerprint %s (decoded below)", what, fingerprint(tok)))
		}
	}
	if tok := str("refresh_token"); tok != "" {
		s.e.Issued = append(s.e.Issued, "a refresh token "+maskSecret(tok))
	}
	if s.e.Principal == "" && str("id_token") != "" {
		if d, err := jwtinfo.Decode(str("id_token")); err == nil {
			s.e.Principal = jwtPrincipal(d)
		}
	}
}

// accessIssued describes an issued access token and, for grants whose
// request does not say, sets the principal.
func (s *summarizer) accessIssued(tok string) string {
	it, ok := s.fake.LookupToken(tok)
	if !ok {
		return "an access token " + maskSecret(tok) + " (already revoked or expired)"
	}
	if s.e.Principal == "" || strings.HasPrefix(s.e.Principal, "client ") || s.e.Endpoint == "STS token exchange" {
		s.e.Principal = it.Principal
	}
	if s.e.Target == "" {
		s.e.Target = strings.Join(it.Scopes, " ")
	}
	return fmt.Sprintf("an access token %s for %s, scopes %s, valid for %s", maskSecret(tok), it.Principal,
		strings.Join(it.Scopes, " "), words(it.Expiry.Sub(s.at)))
}

// googleError reads Google's error from the answer: OAuth's
// {"error","error_description"}, the APIs' {"error":{…}}, gRPC's
// trailers, or the first line of a text answer.
func (s *summarizer) googleError() {
	e := s.e
	if g := first(s.respHead, "Grpc-Status"); g != "" && g != "0" {
		e.ErrorCode = "gRPC status " + g
		e.ErrorText, _ = url.PathUnescape(first(s.respHead, "Grpc-Message"))
		return
	}
	if e.Status < 400 {
		return
	}
	switch v := s.resp.json.(type) {
	case map[string]any:
		switch er := v["error"].(type) {
		case string:
			e.ErrorCode = er
			e.ErrorText, _ = v["error_description"].(string)
		case map[string]any:
			e.ErrorCode, _ = er["status"].(string)
			e.ErrorText, _ = er["message"].(string)
			e.ErrorText += apiErrorDetails(er["details"])
		}
	}
	if e.ErrorCode == "" && e.ErrorText == "" {
		switch s.resp.kind {
		case "text":
			line, _, _ := strings.Cut(strings.TrimSpace(s.resp.text), "\n")
			e.ErrorText = truncate(line, 300)
		case "html":
			e.ErrorText = s.resp.text
		}
	}
}

// apiErrorDetails adds an ErrorInfo's permission and resource: which hop
// of an impersonation chain IAM refused.
func apiErrorDetails(details any) string {
	list, _ := details.([]any)
	for _, d := range list {
		m, _ := d.(map[string]any)
		meta, _ := m["metadata"].(map[string]any)
		if perm, ok := meta["permission"].(string); ok {
			res, _ := meta["resource"].(string)
			return fmt.Sprintf(" (permission %s on %s)", perm, res)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
