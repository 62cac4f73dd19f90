package credentials

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Workload identity federation made in code rather than from an
// external_account file: the subject token comes from a function (as with
// cloud.google.com/go/auth's externalaccount.Options.SubjectTokenProvider),
// for programs that obtain it themselves, such as a metadata server asking
// the Kubernetes TokenRequest API for each pod's service-account token.
// The exchange and the impersonation are the same as for a file.

// SubjectTokenSupplier supplies the subject tokens of a credential made by
// NewFederated: a JWT of an identity provider that the workload identity
// pool provider trusts (a Kubernetes service-account token, say). It is
// called for every STS exchange and must be safe for concurrent use.
type SubjectTokenSupplier interface {
	SubjectToken(ctx context.Context) (string, error)
}

// SubjectTokenSupplierFunc adapts a function to SubjectTokenSupplier.
type SubjectTokenSupplierFunc func(ctx context.Context) (string, error)

// SubjectToken implements SubjectTokenSupplier.
func (f SubjectTokenSupplierFunc) SubjectToken(ctx context.Context) (string, error) { return f(ctx) }

// FederatedOptions configure NewFederated.
type FederatedOptions struct {
	// Audience is the workload identity pool provider,
	// //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.
	// Required.
	Audience string
	// Supplier makes the subject tokens. Required.
	Supplier SubjectTokenSupplier
	// SupplierName names the supplier for people (Credentials.Source,
	// errors) and tells suppliers apart in Credentials.Identity, so two
	// suppliers of different identities must have different names: e.g.
	// `Kubernetes service account "apps/web"`. Required.
	SupplierName string
	// SubjectTokenType is the subject tokens' type. Optional; default
	// urn:ietf:params:oauth:token-type:jwt.
	SubjectTokenType string
	// ServiceAccount, when set, is impersonated with the federated token
	// (the principal needs roles/iam.workloadIdentityUser or Token Creator
	// on it), which is also how ID tokens are made. Optional: without it
	// the tokens are the federated principal's own.
	ServiceAccount string
	// Lifetime is how long impersonated access tokens last. Optional;
	// default DefaultImpersonationLifetime; only with ServiceAccount.
	Lifetime time.Duration
	// TokenURL is STS's token-exchange URL. Optional; default
	// $GCPTOKEN_STS_ENDPOINT, else the emulator's when
	// GCPTOKEN_EMULATOR_HOST is set, else Google's (read through
	// Options.Getenv).
	TokenURL string
}

func (o *FederatedOptions) validate() error {
	switch {
	case o.Audience == "":
		return errors.New("FederatedOptions.Audience is required: the workload identity pool provider, //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER")
	case !strings.HasPrefix(o.Audience, "//iam."):
		return fmt.Errorf("FederatedOptions.Audience %q is not a provider's full resource name (//iam.googleapis.com/…)", o.Audience)
	case o.Supplier == nil:
		return errors.New("FederatedOptions.Supplier is required")
	case strings.TrimSpace(o.SupplierName) == "":
		return errors.New("FederatedOptions.SupplierName is required")
	case o.Lifetime != 0 && o.ServiceAccount == "":
		return errors.New("FederatedOptions.Lifetime is set but ServiceAccount is not: only impersonated tokens have a configurable lifetime")
	}
	if o.TokenURL != "" {
		if err := endpoints.CheckURL(o.TokenURL); err != nil {
			return fmt.Errorf("FederatedOptions.TokenURL: %w", err)
		}
	}
	return nil
}

// NewFederated returns workload identity federation credentials whose
// subject tokens come from fo.Supplier: each access token is an STS
// exchange of a fresh subject token, then, with fo.ServiceAccount, an
// impersonation of that account through the IAM Credentials API. Their
// Type is TypeExternalAccount. opts supplies the HTTP client and the
// environment (GCPTOKEN_EMULATOR_HOST and the endpoint variables); its
// credential-file fields are ignored.
func NewFederated(fo *FederatedOptions, opts *Options) (*Credentials, error) {
	if fo == nil {
		return nil, errors.New("credentials: NewFederated: FederatedOptions are required")
	}
	if err := fo.validate(); err != nil {
		return nil, fmt.Errorf("credentials: NewFederated: %w", err)
	}
	s, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	tokenURL := fo.TokenURL
	if tokenURL == "" {
		if tokenURL, err = s.ends.URL(endpoints.EnvSTSEndpoint, defaultSTSEndpoint(DefaultUniverseDomain)); err != nil {
			return nil, fmt.Errorf("credentials: NewFederated: %w", err)
		}
	}
	src := &supplierSource{supplier: fo.Supplier, name: fo.SupplierName}
	fed := &externalAccount{
		audience:  fo.Audience,
		tokenType: cmp.Or(fo.SubjectTokenType, "urn:ietf:params:oauth:token-type:jwt"),
		sts:       &tokenEndpoint{tokenURL: tokenURL, client: s.client},
		src:       src,
	}
	c := &Credentials{
		Type:           TypeExternalAccount,
		Source:         fmt.Sprintf("federated: subject token from %s, exchanged at STS %s for %s", src.describe(), tokenURL, fo.Audience),
		UniverseDomain: DefaultUniverseDomain,
		impl:           fed,
		client:         s.client,
		ends:           s.ends,
		memo:           newTokenMemo(),
	}
	if fo.ServiceAccount == "" {
		return c, nil
	}
	out, err := Impersonate(c, &ImpersonateOptions{Target: fo.ServiceAccount, Lifetime: fo.Lifetime})
	if err != nil {
		return nil, fmt.Errorf("credentials: NewFederated: %w", err)
	}
	out.Type = TypeExternalAccount
	return out, nil
}

// supplierSource is the credentialSource of NewFederated.
type supplierSource struct {
	supplier SubjectTokenSupplier
	name     string
}

func (s *supplierSource) describe() string    { return s.name }
func (s *supplierSource) identity() string    { return "supplier:" + s.name }
func (s *supplierSource) endpoints() []string { return nil }
func (s *supplierSource) pin(ctx context.Context) (credentialSource, error) {
	return pinSubject(ctx, s)
}

// subjectToken checks what the supplier returns as a file's contents are
// checked: it goes to STS, and may end up in logs and caches.
func (s *supplierSource) subjectToken(ctx context.Context) (string, error) {
	tok, err := s.supplier.SubjectToken(ctx)
	if err != nil {
		return "", err
	}
	return checkSubjectToken(strings.TrimSpace(tok))
}
