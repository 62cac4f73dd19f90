package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// envAWSMetadataEndpoint overrides the AWS instance-metadata base URL that
// `create-cred-config --aws` writes; the emulator exports it.
const envAWSMetadataEndpoint = endpoints.EnvAWSMetadataEndpoint

const (
	defaultAWSMetadata   = "http://169.254.169.254"
	defaultSTSTokenURL   = "https://sts.googleapis.com/v1/token"
	defaultIAMCredsURL   = "https://iamcredentials.googleapis.com"
	subjectTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
	subjectTypeIDToken   = "urn:ietf:params:oauth:token-type:id_token"
	subjectTypeAWS       = "urn:ietf:params:aws:token-type:aws4_request"
	awsVerificationURL   = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
	minExecTimeoutMillis = 5000
	maxExecTimeoutMillis = 120000
)

// providerName matches workload and workforce pool provider resource names.
var (
	workloadProviderName  = regexp.MustCompile(`^projects/[0-9]+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$`)
	workforceProviderName = regexp.MustCompile(`^locations/global/workforcePools/[^/]+/providers/[^/]+$`)
)

type createCredConfigOptions struct {
	provider         string
	aws              bool
	imdsv2           bool
	awsMetadata      string
	sourceFile       string
	sourceURL        string
	sourceHeaders    []string
	sourceType       string
	sourceField      string
	execCommand      string
	execTimeout      int
	execOutputFile   string
	serviceAccount   string
	lifetimeSeconds  int
	userProject      string
	subjectTokenType string
	outputFile       string
	stsEndpoint      string
	iamEndpoint      string
}

func newCreateCredConfigCmd(app *App) *cobra.Command {
	o := &createCredConfigOptions{}
	cmd := &cobra.Command{
		Use:   "create-cred-config PROVIDER --output-file FILE (--aws | --credential-source-file FILE | --credential-source-url URL | --executable-command CMD)",
		Short: "Write an external_account credential file (workload identity federation)",
		Long: `Write an external_account credential file, like
"gcloud iam workload-identity-pools create-cred-config": with it, a workload on
AWS, or one holding an OIDC token (a file, a URL, or an executable that prints
one), gets Google tokens through the Security Token Service, without a
service-account key.

PROVIDER is the provider's resource name,
projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER
or locations/global/workforcePools/POOL/providers/PROVIDER (with or without
//iam.googleapis.com/ in front). With --service-account, the federated
identity then impersonates that account (it needs
roles/iam.serviceAccountTokenCreator on it), which ID tokens require.
The file names no secret; it is written with mode 0600 all the same.`,
		Example: `  gcptoken create-cred-config projects/123/locations/global/workloadIdentityPools/p/providers/aws \
      --aws --enable-imdsv2 --service-account sa@proj.iam.gserviceaccount.com --output-file cred.json
  gcptoken create-cred-config projects/123/locations/global/workloadIdentityPools/p/providers/k8s \
      --credential-source-file /var/run/secrets/tokens/gcp --output-file cred.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.provider = args[0]
			return createCredConfigRun(app, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.aws, "aws", false, "the workload runs on AWS: sign a GetCallerIdentity request with its AWS credentials")
	f.BoolVar(&o.imdsv2, "enable-imdsv2", false, "with --aws: use IMDSv2 session tokens for instance metadata")
	f.StringVar(&o.awsMetadata, "aws-metadata-endpoint", "", "with --aws: instance-metadata base `URL` (default $"+envAWSMetadataEndpoint+", else "+defaultAWSMetadata+")")
	f.StringVar(&o.sourceFile, "credential-source-file", "", "`FILE` holding the subject token (OIDC token or SAML assertion)")
	f.StringVar(&o.sourceURL, "credential-source-url", "", "`URL` answering a GET with the subject token")
	f.StringSliceVar(&o.sourceHeaders, "credential-source-headers", nil, "`KEY=VALUE` headers for --credential-source-url (repeat or comma-separate)")
	f.StringVar(&o.sourceType, "credential-source-type", "", "`FORMAT` of the file or URL answer: text (default) or json")
	f.StringVar(&o.sourceField, "credential-source-field-name", "", "with --credential-source-type json: the `FIELD` holding the token")
	f.StringVar(&o.execCommand, "executable-command", "", "`COMMAND` (with arguments) printing the subject token as JSON; runs only with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1")
	f.IntVar(&o.execTimeout, "executable-timeout-millis", 0, "with --executable-command: timeout in `MS` (5000 to 120000; default 30000)")
	f.StringVar(&o.execOutputFile, "executable-output-file", "", "with --executable-command: `FILE` where the command caches its answer")
	f.StringVar(&o.serviceAccount, "service-account", "", "service account `EMAIL` to impersonate after the exchange")
	f.IntVar(&o.lifetimeSeconds, "service-account-token-lifetime-seconds", 0, "with --service-account: access-token lifetime in `SECONDS` (600 to 43200; default 3600)")
	f.StringVar(&o.userProject, "workforce-pool-user-project", "", "workforce pools: the `PROJECT` billed for quota")
	f.StringVar(&o.subjectTokenType, "subject-token-type", "", "subject token `TYPE` (default aws4_request for --aws, id_token for workforce pools, else jwt)")
	f.StringVar(&o.outputFile, "output-file", "", "`FILE` to write (required)")
	f.StringVar(&o.stsEndpoint, "sts-endpoint", "", "STS token `URL` (default $"+envSTSEndpoint+", else "+defaultSTSTokenURL+")")
	f.StringVar(&o.iamEndpoint, "iam-endpoint", "", "IAM Credentials API base `URL` for --service-account (default $"+envIAMEndpoint+", else "+defaultIAMCredsURL+")")
	return cmd
}

// credConfig is the file, in the field order gcloud writes.
type credConfig struct {
	Type                           string         `json:"type"`
	Audience                       string         `json:"audience"`
	SubjectTokenType               string         `json:"subject_token_type"`
	TokenURL                       string         `json:"token_url"`
	CredentialSource               map[string]any `json:"credential_source"`
	ServiceAccountImpersonationURL string         `json:"service_account_impersonation_url,omitempty"`
	ServiceAccountImpersonation    *credLifetime  `json:"service_account_impersonation,omitempty"`
	WorkforcePoolUserProject       string         `json:"workforce_pool_user_project,omitempty"`
	UniverseDomain                 string         `json:"universe_domain"`
}

type credLifetime struct {
	TokenLifetimeSeconds int `json:"token_lifetime_seconds"`
}

func createCredConfigRun(app *App, o *createCredConfigOptions) error {
	cfg, err := o.build(app.Getenv)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return err
	}
	dir := filepath.Dir(o.outputFile)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--output-file %q: directory %q does not exist", o.outputFile, dir)
	}
	if st, err := os.Stat(o.outputFile); err == nil && st.IsDir() {
		return usagef("--output-file %q is a directory; name a file", o.outputFile)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--output-file %q: %w", o.outputFile, err)
	}
	if err := fileutil.WriteAtomic(o.outputFile, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("--output-file %q: %w", o.outputFile, err)
	}
	fmt.Fprintf(app.Err, "Created credential configuration file [%s].\n", o.outputFile)
	return nil
}

// build validates the flags and returns the file's content. Every error
// names the flag to fix.
func (o *createCredConfigOptions) build(getenv func(string) string) (*credConfig, error) {
	name := strings.TrimPrefix(strings.TrimSpace(o.provider), "//iam.googleapis.com/")
	workforce := workforceProviderName.MatchString(name)
	if !workforce && !workloadProviderName.MatchString(name) {
		return nil, usagef("provider %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER "+
			"or locations/global/workforcePools/POOL/providers/PROVIDER (a project number, not a project id)", o.provider)
	}
	if err := o.checkCombinations(workforce); err != nil {
		return nil, err
	}
	cfg := &credConfig{
		Type:                     "external_account",
		Audience:                 "//iam.googleapis.com/" + name,
		SubjectTokenType:         o.tokenType(workforce),
		WorkforcePoolUserProject: o.userProject,
		UniverseDomain:           "googleapis.com",
	}
	// Under GCPTOKEN_EMULATOR_HOST the file names the emulator, so that
	// every client that reads it (not only gcptoken) talks to the fake.
	ends, err := endpoints.FromEnv(getenv)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if cfg.TokenURL, err = endpointFlag("--sts-endpoint", o.stsEndpoint, getenv(envSTSEndpoint), ends.Rewrite(defaultSTSTokenURL)); err != nil {
		return nil, err
	}
	switch {
	case o.aws:
		cfg.CredentialSource, err = o.awsSource(getenv)
	case o.execCommand != "":
		cfg.CredentialSource, err = o.executableSource()
	default:
		cfg.CredentialSource, err = o.fileOrURLSource()
	}
	if err != nil {
		return nil, err
	}
	if err := o.addImpersonation(cfg, getenv, ends); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkCombinations checks that exactly one subject token source is named
// and that every flag that needs another has it.
func (o *createCredConfigOptions) checkCombinations(workforce bool) error {
	if o.outputFile == "" {
		return usagef("--output-file is required: the file to write")
	}
	var sources []string
	for _, s := range []struct {
		flag string
		set  bool
	}{
		{"--aws", o.aws}, {"--credential-source-file", o.sourceFile != ""},
		{"--credential-source-url", o.sourceURL != ""}, {"--executable-command", o.execCommand != ""},
	} {
		if s.set {
			sources = append(sources, s.flag)
		}
	}
	switch len(sources) {
	case 0:
		return usagef("name the subject token's source: --aws, --credential-source-file, --credential-source-url or --executable-command")
	case 1:
	default:
		return usagef("%s: choose one subject token source", strings.Join(sources, " and "))
	}
	for _, need := range []struct {
		bad bool
		msg string
	}{
		{o.imdsv2 && !o.aws, "--enable-imdsv2 needs --aws"},
		{o.awsMetadata != "" && !o.aws, "--aws-metadata-endpoint needs --aws"},
		{len(o.sourceHeaders) > 0 && o.sourceURL == "", "--credential-source-headers needs --credential-source-url"},
		{(o.sourceType != "" || o.sourceField != "") && o.sourceFile == "" && o.sourceURL == "",
			"--credential-source-type and --credential-source-field-name need --credential-source-file or --credential-source-url"},
		{(o.execTimeout != 0 || o.execOutputFile != "") && o.execCommand == "",
			"--executable-timeout-millis and --executable-output-file need --executable-command"},
		{o.lifetimeSeconds != 0 && o.serviceAccount == "", "--service-account-token-lifetime-seconds needs --service-account"},
		{o.userProject != "" && !workforce, "--workforce-pool-user-project is only for workforce pool providers (locations/global/workforcePools/…)"},
		{o.aws && workforce, "--aws is for workload identity pools, not workforce pools"},
	} {
		if need.bad {
			return usagef("%s", need.msg)
		}
	}
	return nil
}

// tokenType is --subject-token-type, else the source's and pool's default.
func (o *createCredConfigOptions) tokenType(workforce bool) string {
	switch {
	case o.subjectTokenType != "":
		return o.subjectTokenType
	case o.aws:
		return subjectTypeAWS
	case workforce:
		return subjectTypeIDToken
	}
	return subjectTypeJWT
}

// awsSource is --aws's credential source: the instance metadata.
func (o *createCredConfigOptions) awsSource(getenv func(string) string) (map[string]any, error) {
	base, err := endpointFlag("--aws-metadata-endpoint", o.awsMetadata, getenv(envAWSMetadataEndpoint), defaultAWSMetadata)
	if err != nil {
		return nil, err
	}
	base = strings.TrimRight(base, "/")
	src := map[string]any{
		"environment_id":                 "aws1",
		"region_url":                     base + "/latest/meta-data/placement/availability-zone",
		"url":                            base + "/latest/meta-data/iam/security-credentials",
		"regional_cred_verification_url": awsVerificationURL,
	}
	if o.imdsv2 {
		src["imdsv2_session_token_url"] = base + "/latest/api/token"
	}
	return src, nil
}

// executableSource is --executable-command's credential source.
func (o *createCredConfigOptions) executableSource() (map[string]any, error) {
	ex := map[string]any{"command": o.execCommand}
	if o.execTimeout != 0 {
		if o.execTimeout < minExecTimeoutMillis || o.execTimeout > maxExecTimeoutMillis {
			return nil, usagef("--executable-timeout-millis %d: want %d to %d", o.execTimeout, minExecTimeoutMillis, maxExecTimeoutMillis)
		}
		ex["timeout_millis"] = o.execTimeout
	}
	if o.execOutputFile != "" {
		p, err := filepath.Abs(o.execOutputFile)
		if err != nil {
			return nil, usagef("--executable-output-file %q: %v", o.execOutputFile, err)
		}
		ex["output_file"] = p
	}
	return map[string]any{"executable": ex}, nil
}

// fileOrURLSource is the credential source of --credential-source-file or
// --credential-source-url, with its format.
func (o *createCredConfigOptions) fileOrURLSource() (map[string]any, error) {
	format := map[string]string{"type": "text"}
	switch o.sourceType {
	case "", "text":
		if o.sourceField != "" {
			return nil, usagef("--credential-source-field-name needs --credential-source-type json")
		}
	case "json":
		if o.sourceField == "" {
			return nil, usagef("--credential-source-type json needs --credential-source-field-name (the field holding the token)")
		}
		format = map[string]string{"type": "json", "subject_token_field_name": o.sourceField}
	default:
		return nil, usagef("--credential-source-type %q: want text or json", o.sourceType)
	}
	if o.sourceFile != "" {
		p, err := filepath.Abs(o.sourceFile)
		if err != nil {
			return nil, usagef("--credential-source-file %q: %v", o.sourceFile, err)
		}
		return map[string]any{"file": p, "format": format}, nil
	}
	if err := absoluteURL(o.sourceURL); err != nil {
		return nil, usagef("--credential-source-url %q: %v", o.sourceURL, err)
	}
	src := map[string]any{"url": o.sourceURL, "format": format}
	if len(o.sourceHeaders) > 0 {
		h := map[string]string{}
		for _, kv := range o.sourceHeaders {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, usagef("--credential-source-headers %q: want KEY=VALUE", kv)
			}
			h[strings.TrimSpace(k)] = v
		}
		src["headers"] = h
	}
	return src, nil
}

// addImpersonation adds --service-account's impersonation URL and
// lifetime.
func (o *createCredConfigOptions) addImpersonation(cfg *credConfig, getenv func(string) string, ends *endpoints.Env) error {
	if o.serviceAccount == "" {
		return nil
	}
	if !strings.Contains(o.serviceAccount, "@") || strings.ContainsAny(o.serviceAccount, "/: ") {
		return usagef("--service-account %q: want a service account email", o.serviceAccount)
	}
	iam, err := endpointFlag("--iam-endpoint", o.iamEndpoint, getenv(envIAMEndpoint), ends.Rewrite(defaultIAMCredsURL))
	if err != nil {
		return err
	}
	cfg.ServiceAccountImpersonationURL = strings.TrimRight(iam, "/") + "/v1/projects/-/serviceAccounts/" + o.serviceAccount + ":generateAccessToken"
	if o.lifetimeSeconds != 0 {
		if o.lifetimeSeconds < 600 || o.lifetimeSeconds > 43200 {
			return usagef("--service-account-token-lifetime-seconds %d: want 600 to 43200", o.lifetimeSeconds)
		}
		cfg.ServiceAccountImpersonation = &credLifetime{o.lifetimeSeconds}
	}
	return nil
}

// endpointFlag picks the flag, else the environment, else the default, and
// checks it is an absolute http(s) URL.
func endpointFlag(flag, v, env, def string) (string, error) {
	switch {
	case v != "":
	case env != "":
		v = env
	default:
		return def, nil
	}
	if err := absoluteURL(v); err != nil {
		return "", usagef("%s %q: %v", flag, v, err)
	}
	return v, nil
}

func absoluteURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an absolute http(s) URL")
	}
	return nil
}
