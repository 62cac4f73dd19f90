package credentials

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// Writing external_account files, as `gcloud iam workload-identity-pools
// create-cred-config` does: the encoding is the reader's own wire struct
// (credsfile.ExternalAccount), and what is written is loaded back with the
// reader before it is returned, so that this package never writes a file
// it would refuse to read.

// Subject token types (RFC 8693 and AWS's) an external_account file names.
const (
	SubjectTokenTypeJWT     = "urn:ietf:params:oauth:token-type:jwt"
	SubjectTokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	SubjectTokenTypeSAML2   = "urn:ietf:params:oauth:token-type:saml2"
	SubjectTokenTypeAWS     = "urn:ietf:params:aws:token-type:aws4_request"
)

// DefaultAWSMetadataURL is the AWS instance metadata service's base URL.
const DefaultAWSMetadataURL = "http://169.254.169.254"

// ExternalAccountConfig describes an external_account credential file
// (workload or workforce identity federation), for Marshal and WriteFile.
type ExternalAccountConfig struct {
	// Audience is the pool provider's full name:
	// //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
	// or //iam.googleapis.com/locations/global/workforcePools/POOL/providers/PROVIDER.
	// Required.
	Audience string
	// SubjectTokenType is the subject token's type. Optional; default
	// SubjectTokenTypeAWS for an AWS source, SubjectTokenTypeIDToken for a
	// workforce pool, else SubjectTokenTypeJWT.
	SubjectTokenType string
	// TokenURL is STS's token endpoint. Optional; default the universe's
	// STS, as loading chooses it (GCPTOKEN_STS_ENDPOINT, or the emulator's
	// under GCPTOKEN_EMULATOR_HOST, read through Options.Getenv).
	TokenURL string
	// Source is where the subject token comes from. Required.
	Source ExternalAccountSource
	// ServiceAccount is the email of a service account to impersonate with
	// the federated token, which ID tokens need. Optional.
	ServiceAccount string
	// IAMEndpoint is the IAM Credentials API's base URL for
	// ServiceAccount. Optional; default as for Impersonate
	// (GCPTOKEN_IAM_ENDPOINT, the emulator's, else the universe's).
	IAMEndpoint string
	// TokenLifetimeSeconds is the lifetime of the impersonated access
	// tokens, 600 to 43200. Optional; 0 means Google's default, an hour.
	// Only with ServiceAccount.
	TokenLifetimeSeconds int
	// WorkforcePoolUserProject is the project billed for a workforce
	// pool's quota. Optional; workforce pools only.
	WorkforcePoolUserProject string
	// UniverseDomain is the credential's universe. Optional; default
	// DefaultUniverseDomain.
	UniverseDomain string
}

// ExternalAccountSource is where the subject token comes from: set exactly
// one of File, URL, Executable and AWS.
type ExternalAccountSource struct {
	// File holds the subject token (a Kubernetes projected token, an
	// OIDC token a CI system writes). Best an absolute path: clients read
	// it from any directory.
	File string
	// URL answers a GET, sent with Headers, with the subject token.
	URL     string
	Headers map[string]string
	// Format is how the File or URL holds the token: "text" (the default)
	// or "json", with the token in the field JSONField.
	Format    string
	JSONField string
	// Executable prints the subject token.
	Executable *ExternalAccountExecutable
	// AWS signs a GetCallerIdentity request with the workload's AWS
	// credentials.
	AWS *ExternalAccountAWS
}

// ExternalAccountExecutable is a command that prints the subject token as
// JSON (clients run it only when GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1).
type ExternalAccountExecutable struct {
	// Command is the command line. Required.
	Command string
	// TimeoutMillis bounds a run, 5000 to 120000. Optional; 0 means the
	// clients' default, 30000.
	TimeoutMillis int
	// OutputFile is where the command caches its answer. Optional.
	OutputFile string
}

// ExternalAccountAWS takes the AWS credentials from the environment
// (AWS_ACCESS_KEY_ID, …) or else from the instance metadata service.
type ExternalAccountAWS struct {
	// MetadataURL is the instance metadata service's base URL. Optional;
	// default DefaultAWSMetadataURL.
	MetadataURL string
	// IMDSv2 makes clients use IMDSv2 session tokens.
	IMDSv2 bool
}

// Marshal returns the file: JSON, indented, ending in a newline. Defaults
// are filled in, and the result is checked as FromJSON checks a file;
// errors name what to fix. opts supplies Getenv for the default endpoints;
// nil means os.Getenv.
func (c *ExternalAccountConfig) Marshal(opts *Options) ([]byte, error) {
	s, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	f, err := c.file(s)
	if err != nil {
		return nil, fmt.Errorf("external_account config: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // URLs with & and {region} stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	if _, err := parseCredential(buf.Bytes(), "external_account config", "", s, 0); err != nil {
		return nil, fmt.Errorf("external_account config: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteFile writes the file to path, atomically and with mode 0600: it
// names no secret, but a changed file would send tokens elsewhere.
func (c *ExternalAccountConfig) WriteFile(path string, opts *Options) error {
	data, err := c.Marshal(opts)
	if err != nil {
		return err
	}
	if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// file is the wire form of c, with the defaults.
func (c *ExternalAccountConfig) file(s *settings) (*credsfile.ExternalAccount, error) {
	if c.Audience == "" {
		return nil, errors.New("Audience is required: the pool provider (//iam.googleapis.com/…/providers/PROVIDER)")
	}
	src, err := c.Source.wire()
	if err != nil {
		return nil, err
	}
	universe := cmp.Or(c.UniverseDomain, DefaultUniverseDomain)
	f := &credsfile.ExternalAccount{
		Type:                     TypeExternalAccount,
		Audience:                 c.Audience,
		SubjectTokenType:         c.subjectTokenType(),
		CredentialSource:         src,
		WorkforcePoolUserProject: c.WorkforcePoolUserProject,
		UniverseDomain:           universe,
	}
	if f.TokenURL, err = endpoint(c.TokenURL, "TokenURL", s.ends, endpoints.EnvSTSEndpoint, defaultSTSEndpoint(universe)); err != nil {
		return nil, err
	}
	if c.ServiceAccount == "" {
		if c.TokenLifetimeSeconds != 0 {
			return nil, errors.New("TokenLifetimeSeconds needs ServiceAccount: only impersonated tokens have a configurable lifetime")
		}
		return f, nil
	}
	iam, err := endpoint(c.IAMEndpoint, "IAMEndpoint", s.ends, endpoints.EnvIAMEndpoint, defaultIAMEndpoint(universe))
	if err != nil {
		return nil, err
	}
	f.ServiceAccountImpersonationURL = strings.TrimRight(iam, "/") + "/v1/projects/-/serviceAccounts/" +
		url.PathEscape(c.ServiceAccount) + iamAccessTokenOp
	f.ServiceAccountImpersonation.TokenLifetimeSeconds = c.TokenLifetimeSeconds
	return f, nil
}

// subjectTokenType is SubjectTokenType or its default.
func (c *ExternalAccountConfig) subjectTokenType() string {
	switch {
	case c.SubjectTokenType != "":
		return c.SubjectTokenType
	case c.Source.AWS != nil:
		return SubjectTokenTypeAWS
	case workforceAudience().MatchString(c.Audience):
		return SubjectTokenTypeIDToken
	}
	return SubjectTokenTypeJWT
}

// endpoint is v, checked, else the default loading would use.
func endpoint(v, field string, ends *endpoints.Env, env, def string) (string, error) {
	if v == "" {
		return ends.URL(env, def)
	}
	if err := endpoints.CheckURL(v); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return v, nil
}

// wire is the credential_source, after the checks that name the Go
// fields; the reader checks the rest.
func (src *ExternalAccountSource) wire() (*credsfile.CredentialSource, error) {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{{"File", src.File != ""}, {"URL", src.URL != ""}, {"Executable", src.Executable != nil}, {"AWS", src.AWS != nil}} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	switch {
	case len(kinds) != 1:
		return nil, fmt.Errorf("Source: set exactly one of File, URL, Executable and AWS (set: %s)", cmp.Or(strings.Join(kinds, ", "), "none"))
	case len(src.Headers) > 0 && src.URL == "":
		return nil, errors.New("Source.Headers are for a URL source")
	case (src.Format != "" || src.JSONField != "") && src.File == "" && src.URL == "":
		return nil, errors.New("Source.Format and Source.JSONField are for a File or URL source")
	case src.Executable != nil:
		return &credsfile.CredentialSource{Executable: &credsfile.ExecutableSource{
			Command: src.Executable.Command, TimeoutMillis: src.Executable.TimeoutMillis, OutputFile: src.Executable.OutputFile}}, nil
	case src.AWS != nil:
		return src.AWS.wire(), nil
	}
	format := &credsfile.SubjectFormat{Type: cmp.Or(src.Format, "text"), SubjectTokenFieldName: src.JSONField}
	if format.Type == "text" && src.JSONField != "" {
		return nil, errors.New(`Source.JSONField needs Source.Format "json"`)
	}
	return &credsfile.CredentialSource{File: src.File, URL: src.URL, Headers: src.Headers, Format: format}, nil
}

// wire is the AWS credential_source, its URLs under the metadata service.
func (a *ExternalAccountAWS) wire() *credsfile.CredentialSource {
	base := strings.TrimRight(cmp.Or(a.MetadataURL, DefaultAWSMetadataURL), "/")
	cs := &credsfile.CredentialSource{
		EnvironmentID:               "aws1",
		RegionURL:                   base + "/latest/meta-data/placement/availability-zone",
		URL:                         base + "/latest/meta-data/iam/security-credentials",
		RegionalCredVerificationURL: defaultAWSVerificationURL,
	}
	if a.IMDSv2 {
		cs.IMDSv2SessionTokenURL = base + "/latest/api/token"
	}
	return cs
}
