package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// envAWSMetadataEndpoint overrides the AWS instance-metadata base URL that
// `create-cred-config --aws` writes; the emulator exports it.
const envAWSMetadataEndpoint = "GCPTOKEN_AWS_METADATA_ENDPOINT"

// Flag-level bounds, checked here so that the error names the flag; the
// library checks the file it writes again, as it would read it.
const (
	minExecTimeoutMillis = 5000
	maxExecTimeoutMillis = 120000
	minLifetimeSeconds   = 600
	maxLifetimeSeconds   = 43200
)

// providerName matches workload and workforce pool provider resource names.
var (
	workloadProviderName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^projects/[0-9]+/locations/global/workloadIdentityPools/[^/]+/providers/[^/]+$`)
	})
	workforceProviderName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^locations/global/workforcePools/[^/]+/providers/[^/]+$`)
	})
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
	f.StringVar(&o.awsMetadata, "aws-metadata-endpoint", "", "with --aws: instance-metadata base `URL` (default $"+envAWSMetadataEndpoint+", else "+credentials.DefaultAWSMetadataURL+")")
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
	f.StringVar(&o.stsEndpoint, "sts-endpoint", "", "STS token `URL` (default $"+envSTSEndpoint+", else "+credentials.DefaultSTSEndpoint+")")
	f.StringVar(&o.iamEndpoint, "iam-endpoint", "", "IAM Credentials API base `URL` for --service-account (default $"+envIAMEndpoint+", else "+credentials.DefaultIAMEndpoint+")")
	return cmd
}

func createCredConfigRun(app *App, o *createCredConfigOptions) error {
	cfg, err := o.config(app.Getenv)
	if err != nil {
		return err
	}
	if err := checkOutputFile(o.outputFile); err != nil {
		return err
	}
	// The library fills in the default endpoints (the emulator's under
	// GCPTOKEN_EMULATOR_HOST, so that every client reading the file talks
	// to the fake) and checks the file as it would read it.
	data, err := cfg.Marshal(&credentials.Options{Getenv: app.Getenv})
	if err != nil {
		return usagef("%v", err)
	}
	if err := fileutil.WriteAtomic(o.outputFile, data, 0o600); err != nil {
		return fmt.Errorf("--output-file %q: %w", o.outputFile, err)
	}
	fmt.Fprintf(app.Err, "Created credential configuration file [%s].\n", o.outputFile)
	return nil
}

// checkOutputFile refuses an --output-file in a missing directory, or one
// that is a directory.
func checkOutputFile(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--output-file %q: directory %q does not exist", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("--output-file %q is a directory; name a file", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--output-file %q: %w", path, err)
	}
	return nil
}

// config checks the flags and returns the file they describe. Every error
// names the flag to fix.
func (o *createCredConfigOptions) config(getenv func(string) string) (*credentials.ExternalAccountConfig, error) {
	name := strings.TrimPrefix(strings.TrimSpace(o.provider), "//iam.googleapis.com/")
	workforce := workforceProviderName().MatchString(name)
	if !workforce && !workloadProviderName().MatchString(name) {
		return nil, usagef("provider %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER "+
			"or locations/global/workforcePools/POOL/providers/PROVIDER (a project number, not a project id)", o.provider)
	}
	if o.outputFile == "" {
		return nil, usagef("--output-file is required: the file to write")
	}
	if err := o.checkCombinations(workforce); err != nil {
		return nil, err
	}
	cfg := &credentials.ExternalAccountConfig{
		Audience:                 "//iam.googleapis.com/" + name,
		SubjectTokenType:         o.subjectTokenType,
		WorkforcePoolUserProject: o.userProject,
	}
	var err error
	if cfg.TokenURL, err = endpointFlag("--sts-endpoint", o.stsEndpoint, "", ""); err != nil {
		return nil, err
	}
	if cfg.Source, err = o.source(getenv); err != nil {
		return nil, err
	}
	if err := o.impersonation(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkCombinations checks that one subject token source is named and that
// every flag goes with it.
func (o *createCredConfigOptions) checkCombinations(workforce bool) error {
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
	switch {
	case len(sources) == 0:
		return usagef("name the subject token's source: --aws, --credential-source-file, --credential-source-url or --executable-command")
	case len(sources) > 1:
		return usagef("%s: choose one subject token source", strings.Join(sources, " and "))
	case o.imdsv2 && !o.aws:
		return usagef("--enable-imdsv2 needs --aws")
	case o.awsMetadata != "" && !o.aws:
		return usagef("--aws-metadata-endpoint needs --aws")
	case len(o.sourceHeaders) > 0 && o.sourceURL == "":
		return usagef("--credential-source-headers needs --credential-source-url")
	case (o.sourceType != "" || o.sourceField != "") && o.sourceFile == "" && o.sourceURL == "":
		return usagef("--credential-source-type and --credential-source-field-name need --credential-source-file or --credential-source-url")
	case (o.execTimeout != 0 || o.execOutputFile != "") && o.execCommand == "":
		return usagef("--executable-timeout-millis and --executable-output-file need --executable-command")
	case o.lifetimeSeconds != 0 && o.serviceAccount == "":
		return usagef("--service-account-token-lifetime-seconds needs --service-account")
	case o.userProject != "" && !workforce:
		return usagef("--workforce-pool-user-project is only for workforce pool providers (locations/global/workforcePools/…)")
	case o.aws && workforce:
		return usagef("--aws is for workload identity pools, not workforce pools")
	}
	return nil
}

// source is the subject token's source the flags name.
func (o *createCredConfigOptions) source(getenv func(string) string) (credentials.ExternalAccountSource, error) {
	var src credentials.ExternalAccountSource
	switch {
	case o.aws:
		base, err := endpointFlag("--aws-metadata-endpoint", o.awsMetadata, getenv(envAWSMetadataEndpoint), "")
		src.AWS = &credentials.ExternalAccountAWS{MetadataURL: base, IMDSv2: o.imdsv2}
		return src, err
	case o.execCommand != "":
		if o.execTimeout != 0 && (o.execTimeout < minExecTimeoutMillis || o.execTimeout > maxExecTimeoutMillis) {
			return src, usagef("--executable-timeout-millis %d: want %d to %d", o.execTimeout, minExecTimeoutMillis, maxExecTimeoutMillis)
		}
		src.Executable = &credentials.ExternalAccountExecutable{Command: o.execCommand, TimeoutMillis: o.execTimeout}
		if o.execOutputFile != "" {
			p, err := filepath.Abs(o.execOutputFile)
			if err != nil {
				return src, usagef("--executable-output-file %q: %v", o.execOutputFile, err)
			}
			src.Executable.OutputFile = p
		}
		return src, nil
	}
	switch o.sourceType {
	case "", "text":
		if o.sourceField != "" {
			return src, usagef("--credential-source-field-name needs --credential-source-type json")
		}
	case "json":
		if o.sourceField == "" {
			return src, usagef("--credential-source-type json needs --credential-source-field-name (the field holding the token)")
		}
		src.Format, src.JSONField = "json", o.sourceField
	default:
		return src, usagef("--credential-source-type %q: want text or json", o.sourceType)
	}
	if o.sourceFile != "" {
		p, err := filepath.Abs(o.sourceFile)
		if err != nil {
			return src, usagef("--credential-source-file %q: %v", o.sourceFile, err)
		}
		src.File = p
		return src, nil
	}
	if err := absoluteURL(o.sourceURL); err != nil {
		return src, usagef("--credential-source-url %q: %v", o.sourceURL, err)
	}
	src.URL = o.sourceURL
	var err error
	src.Headers, err = headerFlags(o.sourceHeaders)
	return src, err
}

// headerFlags reads --credential-source-headers; nil for none.
func headerFlags(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	h := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--credential-source-headers %q: want KEY=VALUE", kv)
		}
		h[strings.TrimSpace(k)] = v
	}
	return h, nil
}

// impersonation sets the service account the flags name, if any.
func (o *createCredConfigOptions) impersonation(cfg *credentials.ExternalAccountConfig) error {
	if o.serviceAccount == "" {
		return nil
	}
	if !strings.Contains(o.serviceAccount, "@") || strings.ContainsAny(o.serviceAccount, "/: ") {
		return usagef("--service-account %q: want a service account email", o.serviceAccount)
	}
	iam, err := endpointFlag("--iam-endpoint", o.iamEndpoint, "", "")
	if err != nil {
		return err
	}
	if o.lifetimeSeconds != 0 && (o.lifetimeSeconds < minLifetimeSeconds || o.lifetimeSeconds > maxLifetimeSeconds) {
		return usagef("--service-account-token-lifetime-seconds %d: want %d to %d", o.lifetimeSeconds, minLifetimeSeconds, maxLifetimeSeconds)
	}
	cfg.ServiceAccount, cfg.IAMEndpoint, cfg.TokenLifetimeSeconds = o.serviceAccount, iam, o.lifetimeSeconds
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
