package credentials

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/redirect"
)

// Impersonation limits and defaults.
const (
	// DefaultIAMEndpoint is the IAM Credentials API in Google's public
	// universe; other universes use https://iamcredentials.<universe>.
	DefaultIAMEndpoint = "https://iamcredentials.googleapis.com"
	// DefaultImpersonationLifetime is the lifetime of impersonated access
	// tokens unless ImpersonateOptions.Lifetime says otherwise.
	DefaultImpersonationLifetime = time.Hour
	// MaxImpersonationLifetime is the longest lifetime the IAM Credentials
	// API grants, and then only where the organization policy
	// constraints/iam.allowServiceAccountCredentialLifetimeExtension allows
	// more than an hour.
	MaxImpersonationLifetime = 12 * time.Hour
	// maxImpersonationDepth bounds impersonated_service_account files
	// nested in source_credentials. Real files have one level; a limit
	// keeps a hostile file from recursing without end.
	maxImpersonationDepth = 5
)

// ImpersonateOptions configures Impersonate.
type ImpersonateOptions struct {
	// Target is the service account to impersonate: its email, its unique
	// id, or projects/-/serviceAccounts/{either}. Required. WithSubject
	// needs the email, which becomes the iss of the JWT that IAM signs.
	Target string
	// Delegates is the delegation chain from the source credential to
	// Target, in order: the source credential must be allowed to
	// impersonate Delegates[0], each delegate the next one, and the last
	// one Target. Optional. gcloud's --impersonate-service-account=A,B,C is
	// Delegates [A, B] and Target C. Each is a bare email (or unique id) or
	// projects/-/serviceAccounts/{email}; they are sent in the second form.
	Delegates []string
	// Lifetime is how long impersonated access tokens last, in whole
	// seconds. Optional; default DefaultImpersonationLifetime; at most
	// MaxImpersonationLifetime (IAM refuses more than an hour unless the
	// organization policy allows it). ID tokens always last an hour.
	Lifetime time.Duration
	// IAMEndpoint is the IAM Credentials API's base URL, the part before
	// /v1/projects/-/serviceAccounts/. Optional; default
	// $GCPTOKEN_IAM_ENDPOINT, else the emulator's when
	// GCPTOKEN_EMULATOR_HOST is set, else
	// https://iamcredentials.<universe domain of the source credential>,
	// which is DefaultIAMEndpoint in Google's public universe. (The
	// variables are those of the environment the source was loaded in.)
	IAMEndpoint string
	// TokenURL is the OAuth 2.0 token endpoint where credentials made with
	// WithSubject exchange the JWT that IAM signs; nothing else uses it.
	// Optional; default the source's own token endpoint when it has one (a
	// key's token_uri), else https://oauth2.<universe domain>/token, which
	// is DefaultTokenURL in Google's public universe.
	TokenURL string
	// HTTPClient makes the IAM Credentials and token-endpoint requests.
	// Optional; default the client the source credential was loaded with
	// (Options.HTTPClient or its default). Redirects to another origin are
	// refused unless the client has its own CheckRedirect, as for
	// Options.HTTPClient.
	HTTPClient *http.Client
}

func (o *ImpersonateOptions) validate() error {
	if strings.TrimSpace(o.Target) == "" {
		return &OptionError{Field: "ImpersonateOptions.Target", Err: errors.New("required")}
	}
	if _, err := normalizeAccount(o.Target); err != nil {
		return &OptionError{Field: "ImpersonateOptions.Target", Err: err}
	}
	for i, d := range o.Delegates {
		if _, err := normalizeAccount(d); err != nil {
			return &OptionError{Field: fmt.Sprintf("ImpersonateOptions.Delegates[%d]", i), Err: err}
		}
	}
	lifetime := func(err error) error {
		return &OptionError{Field: "ImpersonateOptions.Lifetime", Value: o.Lifetime.String(), Err: err}
	}
	switch l := o.Lifetime; {
	case l < 0:
		return lifetime(errors.New("negative"))
	case l > MaxImpersonationLifetime:
		return lifetime(fmt.Errorf("longer than the IAM Credentials API's maximum of %s", shortDuration(MaxImpersonationLifetime)))
	case l%time.Second != 0:
		return lifetime(errors.New("not a whole number of seconds"))
	}
	if o.IAMEndpoint != "" {
		if err := checkBaseURL(o.IAMEndpoint); err != nil {
			return &OptionError{Field: "ImpersonateOptions.IAMEndpoint", Err: err}
		}
	}
	if o.TokenURL != "" {
		if err := endpoints.CheckURL(o.TokenURL); err != nil {
			return &OptionError{Field: "ImpersonateOptions.TokenURL", Err: err}
		}
	}
	return nil
}

// OptionError is an invalid field of an options struct. Field names it as
// Go code does ("ImpersonateOptions.Lifetime"); Err says what is wrong
// without Go names, so that a command-line tool can word it for the flag
// that set the field.
type OptionError struct {
	Field string
	// Value is the field's value as Go formats it, when the message shows
	// it.
	Value string
	Err   error
}

func (e *OptionError) Error() string {
	if e.Value != "" {
		return e.Field + " " + e.Value + ": " + e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *OptionError) Unwrap() error { return e.Err }

// shortDuration formats d without trailing zero units: "12h", "1h30m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Impersonate returns credentials that act as another service account
// through the IAM Credentials API, authenticated by source (any credential:
// a key, a user, the metadata server, or impersonated credentials again).
//
// Access tokens come from generateAccessToken, ID tokens from
// generateIdToken (with the Authorization header, and with the delegates,
// both of which Google's Go library drops: google-cloud-go #19939). Each
// call authenticates with an access token of source for the cloud-platform
// scope; the returned credentials keep that token cached and share it among
// all their providers, so a chain of calls does not mint it again.
//
// The result has Type TypeImpersonatedServiceAccount and Principal
// opts.Target, and behaves exactly as an impersonated_service_account file
// with the same source, target and delegates.
func Impersonate(source *Credentials, opts *ImpersonateOptions) (*Credentials, error) {
	if source == nil || source.impl == nil {
		return nil, fmt.Errorf("credentials: Impersonate: source: %w", errNotLoaded)
	}
	if opts == nil {
		opts = &ImpersonateOptions{}
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("credentials: Impersonate: %w", err)
	}
	universe := cmp.Or(source.UniverseDomain, DefaultUniverseDomain)
	target, _ := normalizeAccount(opts.Target) // validated
	delegates := make([]string, len(opts.Delegates))
	for i, d := range opts.Delegates {
		delegates[i], _ = normalizeAccount(d)
	}
	base := opts.IAMEndpoint
	if base == "" {
		var err error
		if base, err = source.ends.URL(endpoints.EnvIAMEndpoint, defaultIAMEndpoint(universe)); err != nil {
			return nil, fmt.Errorf("credentials: Impersonate: %w", err)
		}
	}
	c, err := newImpersonated(source, &impersonated{
		target:    target,
		delegates: delegates,
		lifetime:  cmp.Or(opts.Lifetime, DefaultImpersonationLifetime),
		prefix:    strings.TrimRight(base, "/") + "/v1/projects/-/serviceAccounts/" + url.PathEscape(target),
		tokenURL:  cmp.Or(opts.TokenURL, sourceTokenURL(source), source.ends.Rewrite(defaultTokenURL(universe))),
		client:    cmp.Or(redirect.Guard(opts.HTTPClient), source.client, defaultClient()),
	})
	if err != nil {
		return nil, fmt.Errorf("credentials: Impersonate: %w", err)
	}
	return c, nil
}

// newImpersonatedFile loads an impersonated_service_account file. depth is
// how many source_credentials objects enclose it.
func newImpersonatedFile(f *credsfile.File, source, path string, s *settings, depth int) (*Credentials, error) {
	if depth >= maxImpersonationDepth {
		return nil, fmt.Errorf("%s credentials nested more than %d deep in source_credentials",
			TypeImpersonatedServiceAccount, maxImpersonationDepth)
	}
	var im credsfile.ImpersonatedServiceAccount
	if err := f.Decode(&im); err != nil {
		return nil, err
	}
	if im.ServiceAccountImpersonationURL == "" {
		return nil, missing("service_account_impersonation_url", im.Type)
	}
	prefix, target, err := parseImpersonationURL(im.ServiceAccountImpersonationURL)
	if err != nil {
		return nil, &credsfile.FieldError{Field: "service_account_impersonation_url", Err: err}
	}
	prefix = s.ends.Rewrite(prefix)
	delegates := make([]string, len(im.Delegates))
	for i, d := range im.Delegates {
		if delegates[i], err = normalizeAccount(d); err != nil {
			return nil, &credsfile.FieldError{Field: fmt.Sprintf("delegates[%d]", i), Err: err}
		}
	}
	if raw := strings.TrimSpace(string(im.SourceCredentials)); raw == "" || raw == "null" {
		return nil, missing("source_credentials", im.Type)
	}
	srcName := source + ", source_credentials"
	if depth > 0 {
		srcName = source + ".source_credentials"
	}
	src, err := parseCredential(im.SourceCredentials, srcName, path, s, depth+1)
	if err != nil {
		return nil, &credsfile.FieldError{Field: "source_credentials", Err: err}
	}
	universe := cmp.Or(im.UniverseDomain, src.UniverseDomain, DefaultUniverseDomain)
	c, err := newImpersonated(src, &impersonated{
		target:    target,
		delegates: delegates,
		lifetime:  DefaultImpersonationLifetime,
		prefix:    prefix,
		tokenURL:  cmp.Or(s.TokenURL, sourceTokenURL(src), s.ends.Rewrite(defaultTokenURL(universe))),
		client:    s.client,
	})
	if err != nil {
		return nil, &credsfile.FieldError{Field: "source_credentials", Err: err}
	}
	c.QuotaProjectID = cmp.Or(im.QuotaProjectID, src.QuotaProjectID)
	c.UniverseDomain = universe
	return c, nil
}

// newImpersonated completes imp with its source and wraps it in
// Credentials; the one constructor behind Impersonate and the file type.
func newImpersonated(source *Credentials, imp *impersonated) (*Credentials, error) {
	tp, err := source.AccessTokenProvider([]string{ScopeCloudPlatform})
	if err != nil {
		return nil, fmt.Errorf("source credential: %w", err)
	}
	imp.source = source
	// The one cache of the source's token (tp is cached): every provider
	// of these credentials (and of copies made by WithSubject) shares it.
	imp.sourceTP = tp
	return &Credentials{
		Type:           TypeImpersonatedServiceAccount,
		Source:         fmt.Sprintf("impersonating %s from %s", imp.chain(), source.Source),
		Principal:      imp.target,
		ProjectID:      source.ProjectID,
		QuotaProjectID: source.QuotaProjectID,
		UniverseDomain: cmp.Or(source.UniverseDomain, DefaultUniverseDomain),
		impl:           imp,
		client:         imp.client,
		ends:           source.ends,
		memo:           newTokenMemo(),
	}, nil
}

// impersonated gets tokens of target from the IAM Credentials API with
// tokens of source.
type impersonated struct {
	target    string   // email or unique id
	delegates []string // bare emails or unique ids, in order
	lifetime  time.Duration
	// prefix is the target's resource URL,
	// {IAMEndpoint}/v1/projects/-/serviceAccounts/{target}; the methods
	// (":generateAccessToken", …) are appended to it.
	prefix   string
	tokenURL string // where WithSubject's signed JWT is exchanged
	client   *http.Client
	// subject is the user to act as (domain-wide delegation), set by
	// WithSubject.
	subject  string
	source   *Credentials
	sourceTP gcptoken.TokenProvider // cached
}

// chain describes the target and delegates for humans: "t via [a b]".
func (imp *impersonated) chain() string {
	if len(imp.delegates) == 0 {
		return imp.target
	}
	return fmt.Sprintf("%s via [%s]", imp.target, strings.Join(imp.delegates, " "))
}

// wireDelegates are the delegates as the API wants them, nil for none so
// that the field is left out (as Google's Go library does).
func (imp *impersonated) wireDelegates() []string {
	if len(imp.delegates) == 0 {
		return nil
	}
	out := make([]string, len(imp.delegates))
	for i, d := range imp.delegates {
		out[i] = "projects/-/serviceAccounts/" + d
	}
	return out
}

func (imp *impersonated) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	if imp.subject != "" {
		return imp.subjectProvider(scopes), nil
	}
	endpoint := imp.prefix + iamAccessTokenOp
	req := struct {
		Delegates []string `json:"delegates,omitempty"`
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
	}{imp.wireDelegates(), scopes, fmt.Sprintf("%ds", int64(imp.lifetime/time.Second))}
	return imp.tokens(opAccessToken, endpoint, req, tokenReply.iamAccessToken), nil
}

// idTokenProvider calls generateIdToken. Of the options only
// IncludeEmail applies; the format options are the metadata server's.
func (imp *impersonated) idTokenProvider(audience string, o IDTokenOptions) (gcptoken.TokenProvider, error) {
	if imp.subject != "" {
		return nil, errSubjectIDToken
	}
	endpoint := imp.prefix + iamIDTokenOp
	req := struct {
		Audience     string   `json:"audience"`
		IncludeEmail bool     `json:"includeEmail"`
		Delegates    []string `json:"delegates,omitempty"`
	}{audience, o.IncludeEmail, imp.wireDelegates()}
	return imp.tokens(opIDToken, endpoint, req, tokenReply.iamIDToken), nil
}

// tokens makes one IAM Credentials call per token, and reads its answer
// with decode.
func (imp *impersonated) tokens(op, endpoint string, req any, decode func(tokenReply, []byte) (*gcptoken.Token, error)) gcptoken.TokenProvider {
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		body, err := imp.call(ctx, op, endpoint, req)
		if err != nil {
			return nil, err
		}
		t, err := decode(tokenReply{op, endpoint}, body)
		if err != nil {
			return nil, imp.fail(err, false)
		}
		return t, nil
	})
}

// call makes one IAM Credentials call to endpoint, authenticated with the
// source's token. Its errors are imp.fail's.
func (imp *impersonated) call(ctx context.Context, op, endpoint string, req any) ([]byte, error) {
	src, err := imp.sourceToken(ctx)
	if err != nil {
		return nil, err
	}
	body, err := iamPost(ctx, imp.client, op, endpoint, src, req)
	if err != nil {
		return nil, imp.fail(err, true)
	}
	return body, nil
}

// subjectProvider gets access tokens for imp.subject (domain-wide
// delegation) without a key: IAM's signJwt signs, as the target, the same
// assertion a key would sign, and the token endpoint exchanges it, as
// Google's Python library does. generateAccessToken cannot do this: it
// has no subject.
func (imp *impersonated) subjectProvider(scopes []string) gcptoken.TokenProvider {
	endpoint := imp.prefix + iamSignJWTOp
	scope := strings.Join(scopes, " ")
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		claims, err := marshalJSON(newClaims(imp.target, imp.subject, imp.tokenURL, scope, time.Now()))
		if err != nil {
			return nil, err
		}
		req := struct {
			Delegates []string `json:"delegates,omitempty"`
			Payload   string   `json:"payload"`
		}{imp.wireDelegates(), string(claims)}
		body, err := imp.call(ctx, opSignJWT, endpoint, req)
		if err != nil {
			return nil, err
		}
		var r struct {
			KeyID     string `json:"keyId"`
			SignedJWT string `json:"signedJwt"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, imp.fail(tokenReply{opSignJWT, endpoint}.malformed(err), false)
		}
		if r.SignedJWT == "" {
			return nil, imp.fail(fmt.Errorf("%s at %s: the response has no signedJwt", opSignJWT, endpoint), false)
		}
		te := &tokenEndpoint{tokenURL: imp.tokenURL, client: imp.client}
		t, err := te.assertionToken(ctx, opExchangeJWT, r.SignedJWT, expiryRule{required: true})
		if err != nil {
			return nil, imp.fail(err, false)
		}
		return t, nil
	})
}

// sourceToken returns the source credential's (cached) access token.
func (imp *impersonated) sourceToken(ctx context.Context) (*gcptoken.Token, error) {
	t, err := imp.sourceTP.Token(ctx)
	if err != nil {
		return nil, &impersonationError{what: imp.what(), err: fmt.Errorf("get the source credential's access token: %w", err)}
	}
	return t, nil
}

// what names the impersonation in errors.
func (imp *impersonated) what() string {
	var b strings.Builder
	b.WriteString("impersonate " + imp.target)
	if len(imp.delegates) > 0 {
		b.WriteString(" (delegates " + strings.Join(imp.delegates, ", ") + ")")
	}
	if imp.subject != "" {
		b.WriteString(" as " + imp.subject)
	}
	return b.String()
}

// fail wraps an error of one step. For an IAM refusal (iam true) it works
// out, when it can, which hop of the delegation chain was refused.
func (imp *impersonated) fail(err error, iam bool) error {
	e := &impersonationError{what: imp.what(), err: err}
	var ge *gcptoken.Error
	if !iam || !errors.As(err, &ge) {
		return e
	}
	switch ge.StatusCode {
	case http.StatusForbidden, http.StatusNotFound:
		e.refused = true
	default:
		return e
	}
	chain := append(slices.Clone(imp.delegates), imp.target)
	hop := len(chain) - 1 // without delegates, the only hop
	if len(chain) > 1 {
		hop = namedHop(ge.Description, chain)
	}
	if hop < 0 {
		return e
	}
	caller := "the source credential"
	if p := imp.source.Principal; p != "" {
		caller += " " + p
	}
	if hop > 0 {
		caller = chain[hop-1]
	}
	denied := ge.StatusCode == http.StatusForbidden && ge.Code == "PERMISSION_DENIED" &&
		strings.Contains(ge.Description, "iam.serviceAccounts.")
	switch {
	case len(chain) > 1 && denied:
		e.hop = fmt.Sprintf("refused at hop %d of %d: %s needs roles/iam.serviceAccountTokenCreator on %s", hop+1, len(chain), caller, chain[hop])
	case len(chain) > 1:
		e.hop = fmt.Sprintf("refused at hop %d of %d, %s → %s", hop+1, len(chain), caller, chain[hop])
	case denied:
		e.hop = fmt.Sprintf("%s needs roles/iam.serviceAccountTokenCreator on %s", caller, chain[hop])
	}
	return e
}

// namedHop returns the index in chain of the one account that an error
// description names, preferring a resource name
// (".../serviceAccounts/x@…", as ErrorInfo metadata gives it) over a bare
// mention; -1 if none or several are named.
func namedHop(desc string, chain []string) int {
	for _, prefix := range []string{"serviceAccounts/", ""} {
		found := -1
		for i, acct := range chain {
			if !mentions(desc, prefix+acct) {
				continue
			}
			if found >= 0 && chain[found] != acct {
				found = -2 // ambiguous
				break
			}
			found = i
		}
		if found >= 0 {
			return found
		}
	}
	return -1
}

// mentions reports whether s contains name as a whole account name, not as
// part of a longer one. A trailing "." ends a sentence, not the name.
func mentions(s, name string) bool {
	for i := 0; ; i++ {
		j := strings.Index(s[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		rest := strings.TrimPrefix(s[end:], ".")
		if (start == 0 || !isAccountByte(s[start-1])) && (rest == "" || !isAccountByte(rest[0])) {
			return true
		}
		i = start
	}
}

func isAccountByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("@._-+", b) >= 0
}

// identity is the type, the target, the delegates, the subject, then the
// source's identity. The source comes last so that the string stays
// unambiguous: the other fields never contain "|" (normalizeAccount and
// WithSubject see to it). The lifetime is left out: it changes expiry only.
func (imp *impersonated) identity() string {
	return TypeImpersonatedServiceAccount + "|" + imp.target + "|" + strings.Join(imp.delegates, ",") +
		"|" + imp.subject + "|" + imp.source.Identity()
}

func (imp *impersonated) tokenEndpoints() []string {
	eps := []string{imp.prefix + iamAccessTokenOp, imp.prefix + iamIDTokenOp}
	if imp.subject != "" {
		eps = append(eps, imp.prefix+iamSignJWTOp, imp.tokenURL)
	}
	return append(eps, imp.source.TokenEndpoints()...)
}

// impersonationError is a failed step of impersonation. Refusals by IAM
// (403 and 404: the caller may not impersonate an account, or it does not
// exist) match gcptoken.ErrInvalidCredentials: retrying cannot help, the
// IAM policy or the configuration must change.
type impersonationError struct {
	what    string // "impersonate t (delegates a, b)"
	err     error
	hop     string // which hop was refused, and a hint; may be ""
	refused bool
}

func (e *impersonationError) Error() string {
	s := e.what + ": " + e.err.Error()
	if e.hop != "" {
		s += " (" + e.hop + ")"
	}
	return s
}

func (e *impersonationError) Unwrap() error { return e.err }

func (e *impersonationError) Is(target error) bool {
	return e.refused && target == gcptoken.ErrInvalidCredentials
}

// parseImpersonationURL checks a file's service_account_impersonation_url,
// which must be {base}/…/serviceAccounts/{target}:generateAccessToken, and
// returns the part before ":generateAccessToken" and the target.
func parseImpersonationURL(u string) (prefix, target string, err error) {
	if err := checkBaseURL(u); err != nil {
		return "", "", err
	}
	const want = "want https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL" + iamAccessTokenOp
	shown := u
	if len(shown) > 200 {
		shown = shown[:200] + "…"
	}
	prefix, ok := strings.CutSuffix(u, iamAccessTokenOp)
	if !ok {
		return "", "", fmt.Errorf("%q does not end with %q (%s)", shown, iamAccessTokenOp, want)
	}
	i := strings.LastIndex(prefix, "/serviceAccounts/")
	if i < 0 {
		return "", "", fmt.Errorf("%q names no service account (%s)", shown, want)
	}
	raw, err := url.PathUnescape(prefix[i+len("/serviceAccounts/"):])
	if err != nil {
		return "", "", fmt.Errorf("%q: bad escape in the service account (%s)", shown, want)
	}
	if target, err = normalizeAccount(raw); err != nil {
		return "", "", fmt.Errorf("%q: %w (%s)", shown, err, want)
	}
	return prefix, target, nil
}

// normalizeAccount turns a service account given as an email, a unique id
// or projects/{p}/serviceAccounts/{either} into the bare email or id.
func normalizeAccount(s string) (string, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "projects/"); ok {
		_, acct, ok := strings.Cut(rest, "/serviceAccounts/")
		if !ok {
			return "", fmt.Errorf("%q is not projects/-/serviceAccounts/EMAIL", trimForError(s))
		}
		s = acct
	}
	if s == "" {
		return "", errors.New("empty service account")
	}
	for i := 0; i < len(s); i++ {
		if !isAccountByte(s[i]) {
			return "", fmt.Errorf("%q is not a service account email or unique id", trimForError(s))
		}
	}
	return s, nil
}

func trimForError(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// checkBaseURL is checkURL without a query or fragment, which an
// endpoint that gets paths appended cannot have.
func checkBaseURL(s string) error {
	if err := endpoints.CheckURL(s); err != nil {
		return err
	}
	if u, _ := url.Parse(s); u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must have no query, fragment or user info", trimForError(s))
	}
	return nil
}

// sourceTokenURL is the OAuth token endpoint a source credential already
// uses, if it has one: the deployment a key's token_uri names (Google's, or
// a fake) is where its delegated assertions belong too.
func sourceTokenURL(c *Credentials) string {
	switch impl := c.impl.(type) {
	case *serviceAccount:
		return impl.tokenURL
	case *authorizedUser:
		return impl.tokenURL
	}
	return ""
}
