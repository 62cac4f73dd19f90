package credentials

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/redirect"
)

// Downscoping (Credential Access Boundary) exchanges an access token of a
// source credential at the Security Token Service for one that can do at
// most what the boundary allows (protocol.md §7.2). Unlike Google's Go
// downscope package, the STS endpoint is configurable and the tokens are
// plain sources that gcptoken's cache wraps like any other.

const (
	// TypeDownscoped is Credentials.Type of Downscope's result.
	TypeDownscoped = "downscoped"
	// DefaultSTSEndpoint is the Security Token Service's token exchange in
	// Google's public universe; other universes use
	// https://sts.<universe>/v1/token.
	DefaultSTSEndpoint = "https://sts.googleapis.com/v1/token"

	// maxAccessBoundaryRules is STS's limit on a boundary's rules.
	maxAccessBoundaryRules = 10
	// maxAccessBoundarySize bounds the boundary document; STS allows 2048
	// characters for the accessBoundary, so anything near this is a
	// mistake (a wrong file), not a boundary.
	maxAccessBoundarySize = 64 << 10

	opDownscope = "exchange access token for a downscoped token"
)

// errDownscopedIDToken is IDTokenProvider's answer for downscoped
// credentials.
var errDownscopedIDToken = errors.New("credentials: downscoped credentials have access tokens only; " +
	"for an ID token use the credential without an access boundary")

// DownscopeOptions configures Downscope.
type DownscopeOptions struct {
	// Boundary is the Credential Access Boundary as users write it:
	// {"accessBoundary":{"accessBoundaryRules":[{"availableResource":…,
	// "availablePermissions":["inRole:…"],"availabilityCondition":{…}}]}}.
	// Required: 1 to 10 rules, each with an availableResource and at least
	// one availablePermissions entry starting with "inRole:"; an
	// availabilityCondition needs an expression (title and description are
	// optional). Unknown fields are errors, so that a misspelt field is not
	// silently dropped. Errors are *AccessBoundaryError naming the field.
	Boundary []byte
	// STSEndpoint is the token exchange URL. Optional; default
	// $GCPTOKEN_STS_ENDPOINT, else the emulator's when
	// GCPTOKEN_EMULATOR_HOST is set (the variables of the environment the
	// source was loaded in), else
	// https://sts.<universe domain of the source>/v1/token, which is
	// DefaultSTSEndpoint in Google's public universe.
	STSEndpoint string
	// HTTPClient makes the STS requests. Optional; default the client the
	// source credential was loaded with. Redirects to another origin are
	// refused unless the client has its own CheckRedirect, as for
	// Options.HTTPClient.
	HTTPClient *http.Client
}

// validate checks the options and returns the canonical boundary.
func (o *DownscopeOptions) validate() (*accessBoundaryDoc, error) {
	b, err := parseAccessBoundary(o.Boundary)
	if err != nil {
		return nil, fmt.Errorf("DownscopeOptions.Boundary: %w", err)
	}
	if o.STSEndpoint != "" {
		if err := endpoints.CheckURL(o.STSEndpoint); err != nil {
			return nil, fmt.Errorf("DownscopeOptions.STSEndpoint: %w", err)
		}
	}
	return b, nil
}

// AccessBoundaryError is a problem with one field of a Credential Access
// Boundary, e.g. Field "accessBoundary.accessBoundaryRules[0].availablePermissions[1]".
// Field is empty when the document as a whole is wrong (not JSON).
type AccessBoundaryError struct {
	Field string
	Err   error
}

func (e *AccessBoundaryError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *AccessBoundaryError) Unwrap() error { return e.Err }

func boundaryErr(field, format string, args ...any) error {
	return &AccessBoundaryError{Field: field, Err: fmt.Errorf(format, args...)}
}

// The boundary as gcptoken reads and re-sends it. Field order is the
// canonical order, which makes equal boundaries hash equally however they
// were written.
type accessBoundaryDoc struct {
	AccessBoundary *accessBoundary `json:"accessBoundary"`
}

type accessBoundary struct {
	Rules []accessBoundaryRule `json:"accessBoundaryRules"`
}

type accessBoundaryRule struct {
	AvailableResource     string                 `json:"availableResource"`
	AvailablePermissions  []string               `json:"availablePermissions"`
	AvailabilityCondition *availabilityCondition `json:"availabilityCondition,omitempty"`
}

type availabilityCondition struct {
	Expression  string `json:"expression"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// parseAccessBoundary reads and checks a boundary document. Its errors are
// *AccessBoundaryError.
func parseAccessBoundary(data []byte) (*accessBoundaryDoc, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, boundaryErr("", `is empty; want {"accessBoundary":{"accessBoundaryRules":[…]}}`)
	case len(data) > maxAccessBoundarySize:
		return nil, boundaryErr("", "is %d bytes, larger than %d; not an access boundary", len(data), maxAccessBoundarySize)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, boundaryErr("", "malformed JSON: %v", jsonSyntaxMessage(err))
	}
	if _, ok := top["accessBoundary"]; !ok {
		if _, rules := top["accessBoundaryRules"]; rules {
			return nil, boundaryErr("accessBoundaryRules", `must be inside "accessBoundary": {"accessBoundary":{"accessBoundaryRules":[…]}}`)
		}
		return nil, boundaryErr("accessBoundary", `missing; want {"accessBoundary":{"accessBoundaryRules":[…]}}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc accessBoundaryDoc
	if err := dec.Decode(&doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, boundaryErr(te.Field, "must not be %s", te.Value)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, boundaryErr("", "unknown field %s (known: accessBoundary, accessBoundaryRules, availableResource, "+
				"availablePermissions, availabilityCondition, expression, title, description)", name)
		}
		return nil, boundaryErr("", "malformed JSON: %v", jsonSyntaxMessage(err))
	}
	b := doc.AccessBoundary
	if b == nil {
		return nil, boundaryErr("accessBoundary", "must be an object, not null")
	}
	switch n := len(b.Rules); {
	case n == 0:
		return nil, boundaryErr("accessBoundary.accessBoundaryRules", "missing or empty: a boundary needs at least one rule")
	case n > maxAccessBoundaryRules:
		return nil, boundaryErr("accessBoundary.accessBoundaryRules", "has %d rules; STS allows at most %d", n, maxAccessBoundaryRules)
	}
	for i, r := range b.Rules {
		field := fmt.Sprintf("accessBoundary.accessBoundaryRules[%d]", i)
		if strings.TrimSpace(r.AvailableResource) == "" {
			return nil, boundaryErr(field+".availableResource",
				"missing or empty; want a resource name such as //storage.googleapis.com/projects/_/buckets/BUCKET")
		}
		if len(r.AvailablePermissions) == 0 {
			return nil, boundaryErr(field+".availablePermissions",
				`missing or empty; want roles such as ["inRole:roles/storage.objectViewer"]`)
		}
		for j, p := range r.AvailablePermissions {
			if role, ok := strings.CutPrefix(p, "inRole:"); !ok || role == "" {
				return nil, boundaryErr(fmt.Sprintf("%s.availablePermissions[%d]", field, j),
					`%q must be "inRole:" followed by a role, e.g. "inRole:roles/storage.objectViewer"`, trimForError(p))
			}
		}
		if c := r.AvailabilityCondition; c != nil && strings.TrimSpace(c.Expression) == "" {
			return nil, boundaryErr(field+".availabilityCondition.expression", "missing or empty (a condition needs a CEL expression)")
		}
	}
	return &doc, nil
}

// jsonSyntaxMessage words a syntax error with its offset, without quoting
// the document.
func jsonSyntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}

// canonical is the boundary as sent in STS's options: compact, in a fixed
// field order, without HTML escaping (CEL expressions contain && and <).
func (d *accessBoundaryDoc) canonical() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(d) // plain strings and slices: cannot fail
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Downscope returns credentials whose access tokens are source's, narrowed
// by a Credential Access Boundary at the Security Token Service: each
// token is an access token of source for the cloud-platform scope,
// exchanged (RFC 8693 token exchange, options = the boundary) for one that
// can do at most what the boundary's rules allow.
//
// The source's token is cached and shared by all the result's providers;
// the downscoped tokens come from plain sources, to be cached like any
// other (Google's Go downscope package does not cache them). Their
// Expiry is STS's expires_in, or, when STS leaves it out, as it does for
// Google access tokens, the source token's expiry. Scopes given to
// AccessTokenProvider are ignored: the boundary, not the scope, restricts
// the token.
//
// The result has Type TypeDownscoped and the source's Principal and
// projects. Its Identity covers the boundary (a SHA-256 of its canonical
// form) and the source, so tokens of different boundaries never share a
// cache entry. IDTokenProvider and SelfSignedJWTProvider return errors,
// and so does downscoping downscoped credentials: STS refuses a token that
// already carries a boundary.
func Downscope(source *Credentials, opts *DownscopeOptions) (*Credentials, error) {
	if source == nil || source.impl == nil {
		return nil, fmt.Errorf("credentials: Downscope: source: %w", errNotLoaded)
	}
	if _, ok := source.impl.(*downscoped); ok {
		return nil, errors.New("credentials: Downscope: source is already downscoped, and STS refuses to downscope " +
			"a token that carries an access boundary; put all the rules in one boundary instead")
	}
	if opts == nil {
		opts = &DownscopeOptions{}
	}
	doc, err := opts.validate()
	if err != nil {
		return nil, fmt.Errorf("credentials: Downscope: %w", err)
	}
	// Cached: every token of the result exchanges a token of source.
	tp, err := source.AccessTokenProvider([]string{ScopeCloudPlatform})
	if err != nil {
		return nil, fmt.Errorf("credentials: Downscope: source credential: %w", err)
	}
	universe := cmp.Or(source.UniverseDomain, DefaultUniverseDomain)
	endpoint := opts.STSEndpoint
	if endpoint == "" {
		if endpoint, err = source.ends.URL(endpoints.EnvSTSEndpoint, defaultSTSEndpoint(universe)); err != nil {
			return nil, fmt.Errorf("credentials: Downscope: %w", err)
		}
	}
	d := &downscoped{
		source:   source,
		sourceTP: tp,
		options:  doc.canonical(),
		sts:      &tokenEndpoint{tokenURL: endpoint, client: cmp.Or(redirect.Guard(opts.HTTPClient), source.client, defaultClient())},
	}
	sum := sha256.Sum256(d.options)
	d.hash = hex.EncodeToString(sum[:])
	return &Credentials{
		Type:           TypeDownscoped,
		Source:         fmt.Sprintf("downscoped (access boundary sha256:%s, %d rules) from %s", d.hash[:12], len(doc.AccessBoundary.Rules), source.Source),
		Path:           source.Path,
		Principal:      source.Principal,
		ClientID:       source.ClientID,
		ProjectID:      source.ProjectID,
		QuotaProjectID: source.QuotaProjectID,
		UniverseDomain: universe,
		impl:           d,
		client:         d.sts.client,
		ends:           source.ends,
		memo:           newTokenMemo(),
	}, nil
}

// downscoped exchanges source's access tokens for downscoped ones.
type downscoped struct {
	source   *Credentials
	sourceTP gcptoken.TokenProvider // cached
	options  []byte                 // the canonical {"accessBoundary":…}, sent as options
	hash     string                 // hex SHA-256 of options
	sts      *tokenEndpoint
}

func (d *downscoped) accessTokenProvider([]string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(d.token), nil
}

func (d *downscoped) idTokenProvider(string, IDTokenOptions) (gcptoken.TokenProvider, error) {
	return nil, errDownscopedIDToken
}

// identity is the type, the boundary's hash, then the source's identity
// (last, as in impersonated.identity, so the string stays unambiguous).
func (d *downscoped) identity() string {
	return TypeDownscoped + "|" + d.hash + "|" + d.source.Identity()
}

func (d *downscoped) tokenEndpoints() []string {
	return append([]string{d.sts.tokenURL}, d.source.TokenEndpoints()...)
}

// token makes one exchange.
func (d *downscoped) token(ctx context.Context) (*gcptoken.Token, error) {
	src, err := d.sourceTP.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("downscope: get the source credential's access token: %w", err)
	}
	a, err := d.sts.exchange(ctx, opDownscope, stsExchange{
		subjectToken:     src.Value,
		subjectTokenType: tokenTypeAccessToken,
		options:          string(d.options),
	})
	if err != nil {
		return nil, err
	}
	// STS leaves expires_in out for Google access tokens: the token then
	// expires with its source.
	return d.sts.reply(opDownscope).accessToken(a, expiryRule{notAfter: src.Expiry}, "")
}
