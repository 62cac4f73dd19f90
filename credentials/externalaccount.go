package credentials

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Workload and workforce identity federation: external_account credentials
// (protocol.md §7.1, §8.3, §8.4). A subject token from the workload's own
// identity (a file, a URL, an executable, or a signed AWS request) is
// exchanged at STS for a Google access token of the federated principal;
// with service_account_impersonation_url, that token then impersonates a
// service account through the IAM Credentials API (impersonate.go), which
// is also how ID tokens are made.
//
// The chain is written here rather than taken from
// cloud.google.com/go/auth/credentials/externalaccount because that package
// reads AWS_* and GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES from the process
// environment (Options.Getenv cannot reach it), reports STS failures as
// untyped strings (no status or OAuth code for the CLI's exit codes), and
// cannot say which step of the chain failed. What is hard to write — the
// SigV4 signature of the AWS subject token — comes from aws-sdk-go-v2's
// signer (externalaccount_aws.go).

// Credential types of identity federation, as in Credentials.Type.
const (
	TypeExternalAccount               = credsfile.TypeExternalAccount
	TypeExternalAccountAuthorizedUser = credsfile.TypeExternalAccountAuthorizedUser
)

const (
	opSTSExchange = "STS token exchange"
	// Impersonation lifetimes an external_account file may ask for.
	minFederatedLifetime = 600
	maxFederatedLifetime = 43200
)

// workforceAudience matches the audiences of workforce pool providers, the
// only ones workforce_pool_user_project is allowed with (as in Google's
// libraries).
var workforceAudience = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^//iam\.googleapis\.com/locations/[^/]+/workforcePools/`)
})

// externalAccount exchanges subject tokens at STS.
type externalAccount struct {
	audience    string
	tokenType   string
	sts         *tokenEndpoint // with the file's OAuth client, if any, in a Basic header
	userProject string
	src         credentialSource
}

// credentialSource is one credential_source: it fetches the workload's own
// credential, the subject token.
type credentialSource interface {
	subjectToken(ctx context.Context) (string, error)
	// describe names the source in errors: `file "/x"`, `URL http://…`.
	describe() string
	// identity tells sources apart in cache keys; no secrets.
	identity() string
	// endpoints are the URLs the source contacts.
	endpoints() []string
	// pin reads what decides the principal once (the subject token, or
	// AWS's role credentials) and returns a source that always uses it,
	// whose identity includes its fingerprint (snapshot.go).
	pin(ctx context.Context) (credentialSource, error)
}

func newExternalAccount(f *credsfile.File, source string, s *settings) (*Credentials, error) {
	var ea credsfile.ExternalAccount
	if err := f.Decode(&ea); err != nil {
		return nil, err
	}
	if err := checkExternalAccount(&ea); err != nil {
		return nil, err
	}
	universe := cmp.Or(ea.UniverseDomain, DefaultUniverseDomain)
	tokenURL := cmp.Or(ea.TokenURL, defaultSTSEndpoint(universe))
	if err := endpoints.CheckURL(tokenURL); err != nil {
		return nil, &credsfile.FieldError{Field: "token_url", Err: err}
	}
	tokenURL = s.ends.Rewrite(tokenURL)
	imp, err := federatedImpersonation(&ea, s)
	if err != nil {
		return nil, err
	}
	src, err := newSubjectSource(ea.CredentialSource, &ea, imp.target, s)
	if err != nil {
		return nil, &credsfile.FieldError{Field: "credential_source", Err: err}
	}
	fed := &externalAccount{
		audience:  ea.Audience,
		tokenType: ea.SubjectTokenType,
		sts: &tokenEndpoint{tokenURL: tokenURL, client: s.client,
			clientID: ea.ClientID, clientSecret: ea.ClientSecret, basicAuth: true},
		userProject: ea.WorkforcePoolUserProject,
		src:         src,
	}
	c := &Credentials{
		Type:           TypeExternalAccount,
		Source:         fmt.Sprintf("%s (federated: subject token from %s, exchanged at STS %s for %s)", source, src.describe(), tokenURL, ea.Audience),
		ClientID:       ea.ClientID,
		QuotaProjectID: ea.QuotaProjectID,
		UniverseDomain: universe,
		impl:           fed,
		client:         s.client,
		ends:           s.ends,
	}
	if imp.target == "" {
		return c, nil
	}
	// Impersonation takes the federated credential as its source, so that
	// access and ID tokens both go through the IAM Credentials API with
	// the STS token, exactly as for impersonated_service_account files.
	imp.tokenURL = cmp.Or(s.TokenURL, s.ends.Rewrite(defaultTokenURL(universe)))
	out, err := newImpersonated(c, imp)
	if err != nil {
		return nil, err
	}
	out.Type = TypeExternalAccount
	out.ClientID = ea.ClientID
	return out, nil
}

// checkExternalAccount checks the fields every external_account file needs.
func checkExternalAccount(ea *credsfile.ExternalAccount) error {
	switch {
	case ea.Audience == "":
		return missing("audience", ea.Type)
	case ea.SubjectTokenType == "":
		return missing("subject_token_type", ea.Type)
	case ea.CredentialSource == nil:
		return missing("credential_source", ea.Type)
	case ea.WorkforcePoolUserProject != "" && !workforceAudience().MatchString(ea.Audience):
		return &credsfile.FieldError{Field: "workforce_pool_user_project",
			Err: errors.New("is only allowed with a workforce pool audience (//iam.googleapis.com/locations/global/workforcePools/…)")}
	}
	return nil
}

// federatedImpersonation reads the file's service_account_impersonation_url
// and lifetime into the impersonation of its STS tokens; its target is ""
// without one.
func federatedImpersonation(ea *credsfile.ExternalAccount, s *settings) (*impersonated, error) {
	imp := &impersonated{lifetime: DefaultImpersonationLifetime, client: s.client}
	lifetime := ea.ServiceAccountImpersonation.TokenLifetimeSeconds
	const lifetimeField = "service_account_impersonation.token_lifetime_seconds"
	u := ea.ServiceAccountImpersonationURL
	switch {
	case u == "" && lifetime != 0:
		return nil, &credsfile.FieldError{Field: lifetimeField,
			Err: errors.New("is set but service_account_impersonation_url is not: only impersonated tokens have a configurable lifetime")}
	case u == "":
		return imp, nil
	case lifetime != 0 && (lifetime < minFederatedLifetime || lifetime > maxFederatedLifetime):
		return nil, &credsfile.FieldError{Field: lifetimeField,
			Err: fmt.Errorf("%d is outside [%d, %d]", lifetime, minFederatedLifetime, maxFederatedLifetime)}
	case lifetime != 0:
		imp.lifetime = time.Duration(lifetime) * time.Second
	}
	prefix, target, err := parseImpersonationURL(u)
	if err != nil {
		return nil, &credsfile.FieldError{Field: "service_account_impersonation_url", Err: err}
	}
	imp.prefix, imp.target = s.ends.Rewrite(prefix), target
	return imp, nil
}

// newSubjectSource picks the one credential_source kind present.
func newSubjectSource(cs *credsfile.CredentialSource, ea *credsfile.ExternalAccount, target string, s *settings) (credentialSource, error) {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"file", cs.File != ""},
		{"url", cs.URL != "" && cs.EnvironmentID == ""}, // AWS sources have a url too
		{"executable", cs.Executable != nil},
		{"environment_id", cs.EnvironmentID != ""},
		{"certificate", len(cs.Certificate) > 0 && string(cs.Certificate) != "null"},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch len(kinds) {
	case 0:
		return nil, errors.New("names no source: want one of file, url, executable, environment_id (AWS) or certificate")
	case 1:
	default:
		return nil, fmt.Errorf("has %s: want exactly one source", strings.Join(kinds, " and "))
	}
	switch kinds[0] {
	case "file":
		ff, err := checkFormat(cs.Format)
		if err != nil {
			return nil, err
		}
		return &fileSource{path: cs.File, format: ff}, nil
	case "url":
		ff, err := checkFormat(cs.Format)
		if err != nil {
			return nil, err
		}
		if err := endpoints.CheckURL(cs.URL); err != nil {
			return nil, &credsfile.FieldError{Field: "url", Err: err}
		}
		return &urlSource{url: cs.URL, headers: cs.Headers, format: ff, client: s.client}, nil
	case "executable":
		return newExecutableSource(cs.Executable, ea, target, s)
	case "environment_id":
		return newAWSSource(cs, ea.Audience, s)
	}
	return nil, errors.New("certificate (X.509 workload identity federation) sources are not supported by gcptoken yet; " +
		"use Google's Go library (cloud.google.com/go/auth/credentials) for them")
}

// checkFormat validates format; nil means text.
func checkFormat(f *credsfile.SubjectFormat) (credsfile.SubjectFormat, error) {
	if f == nil {
		return credsfile.SubjectFormat{Type: "text"}, nil
	}
	switch f.Type {
	case "", "text":
		return credsfile.SubjectFormat{Type: "text"}, nil
	case "json":
		if f.SubjectTokenFieldName == "" {
			return credsfile.SubjectFormat{}, missing("format.subject_token_field_name", `format.type "json"`)
		}
		return *f, nil
	}
	return credsfile.SubjectFormat{}, &credsfile.FieldError{Field: "format.type", Err: fmt.Errorf("%q: want \"text\" or \"json\"", trimForError(f.Type))}
}

// extractSubject applies format to what a file or URL returned.
func extractSubject(data []byte, f credsfile.SubjectFormat) (string, error) {
	if f.Type == "json" {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return "", errors.New(`is not a JSON object (format.type is "json")`)
		}
		v, ok := m[f.SubjectTokenFieldName].(string)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("has no string field %q (format.subject_token_field_name)", f.SubjectTokenFieldName)
		}
		return checkSubjectToken(strings.TrimSpace(v))
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", errors.New("is empty")
	}
	return checkSubjectToken(tok)
}

// checkSubjectToken refuses a subject token that is not a bearer token
// (gcptoken.CheckTokenValue): what a file, URL or executable hands over is
// sent to STS and may end up in logs and caches, so a value with line
// breaks, quotes or control characters is the wrong file or a hostile
// source. AWS's subject token is built here and never passes through this.
func checkSubjectToken(tok string) (string, error) {
	if err := gcptoken.CheckTokenValue(tok); err != nil {
		return "", fmt.Errorf("does not hold a subject token: %w", err)
	}
	return tok, nil
}

// fileSource reads the subject token from a file (Kubernetes projected
// tokens, Azure and GitHub tokens written to disk).
type fileSource struct {
	path   string
	format credsfile.SubjectFormat
}

func (f *fileSource) describe() string { return fmt.Sprintf("file %q", f.path) }
func (f *fileSource) identity() string {
	return "file:" + f.path + "#" + f.format.SubjectTokenFieldName
}
func (f *fileSource) endpoints() []string { return nil }
func (f *fileSource) pin(ctx context.Context) (credentialSource, error) {
	return pinSubject(ctx, f)
}

func (f *fileSource) subjectToken(ctx context.Context) (string, error) {
	data, err := readFile(ctx, f.path)
	if err != nil {
		return "", err
	}
	return extractSubject(data, f.format)
}

// urlSource fetches the subject token with a GET (Azure's IMDS, a sidecar).
type urlSource struct {
	url     string
	headers map[string]string
	format  credsfile.SubjectFormat
	client  *http.Client
}

func (u *urlSource) describe() string    { return "URL " + stripQueryForError(u.url) }
func (u *urlSource) identity() string    { return "url:" + u.url + "#" + u.format.SubjectTokenFieldName }
func (u *urlSource) endpoints() []string { return []string{u.url} }
func (u *urlSource) pin(ctx context.Context) (credentialSource, error) {
	return pinSubject(ctx, u)
}

func (u *urlSource) subjectToken(ctx context.Context) (string, error) {
	h := http.Header{}
	for k, v := range u.headers {
		h.Set(k, v)
	}
	data, err := get(ctx, u.client, "get the subject token", u.url, h)
	if err != nil {
		return "", err
	}
	return extractSubject(data, u.format)
}

// stripQueryForError drops a URL's query, which may hold secrets.
func stripQueryForError(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// accessTokenProvider exchanges a fresh subject token at STS for each
// token. Without scopes it is asked for cloud-platform (defaultScopes), as
// Google's libraries do before impersonating.
func (ea *externalAccount) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		return ea.exchange(ctx, scopes)
	}), nil
}

// idTokenProvider refuses: STS issues access tokens only, and a federated
// principal is not a service account that IAM could mint an ID token for.
func (ea *externalAccount) idTokenProvider(string, IDTokenOptions) (gcptoken.TokenProvider, error) {
	return nil, invalid("credentials", errors.New("external_account credentials without service_account_impersonation_url cannot make ID tokens: "+
		"STS issues access tokens only; impersonate a service account that grants the federated identity "+
		"roles/iam.serviceAccountTokenCreator (the configuration's service_account_impersonation_url)"))
}

// exchange gets a subject token and exchanges it at STS (RFC 8693).
func (ea *externalAccount) exchange(ctx context.Context, scopes []string) (*gcptoken.Token, error) {
	subject, err := ea.src.subjectToken(ctx)
	if err != nil {
		return nil, ea.subjectError(ctx, err)
	}
	x := stsExchange{
		subjectToken:     subject,
		subjectTokenType: ea.tokenType,
		audience:         ea.audience,
		scope:            strings.Join(scopes, " "),
	}
	// Google's libraries send userProject only without client
	// authentication: the OAuth client already names the project.
	if ea.userProject != "" && ea.sts.clientID == "" {
		o, _ := json.Marshal(map[string]string{"userProject": ea.userProject})
		x.options = string(o)
	}
	a, err := ea.sts.exchange(ctx, opSTSExchange, x)
	if err != nil {
		return nil, err
	}
	// Google's Go library refuses a federated token without expires_in
	// too: it must say when it expires.
	return ea.sts.reply(opSTSExchange).accessToken(a, expiryRule{required: true}, x.scope)
}

// subjectError words a failure to get the subject token.
func (ea *externalAccount) subjectError(ctx context.Context, err error) error {
	what := "get the subject token from " + ea.src.describe()
	var ge *gcptoken.Error
	if errors.As(err, &ge) || ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, err) // an outage or a refusal, classified by the *Error
	}
	return invalid(what, err)
}

// identity is the type, the audience, the STS endpoint, the client, the
// user project, the subject token type and the source: two files that
// differ in any of them get different tokens. Only a snapshot's source
// names the subject token (snapshot.go).
func (ea *externalAccount) identity() string {
	return strings.Join([]string{TypeExternalAccount, ea.audience, ea.sts.tokenURL, ea.sts.clientID, ea.userProject,
		ea.tokenType, ea.src.identity()}, "|")
}

func (ea *externalAccount) tokenEndpoints() []string {
	return append([]string{ea.sts.tokenURL}, ea.src.endpoints()...)
}
