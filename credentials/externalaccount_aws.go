package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// AWS subject tokens (protocol.md §8.4): a GetCallerIdentity request signed
// with the workload's AWS credentials, never sent to AWS but serialized as
// URL-encoded JSON for STS, which forwards it to AWS to learn who signed.

// Environment variables of the AWS source, read through Options.Getenv.
const (
	envAWSRegion        = "AWS_REGION"
	envAWSDefaultRegion = "AWS_DEFAULT_REGION"
	envAWSAccessKeyID   = "AWS_ACCESS_KEY_ID"
	envAWSSecretKey     = "AWS_SECRET_ACCESS_KEY"
	envAWSSessionToken  = "AWS_SESSION_TOKEN"
)

const (
	defaultAWSVerificationURL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
	// emptySHA256 is the payload hash of GetCallerIdentity's empty body.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	// imdsTTL is the IMDSv2 session lifetime Google's libraries ask for.
	imdsTTL = "300"
)

// awsRegionName matches AWS region names (us-east-2, us-gov-west-1), so
// that an availability zone or a typo is caught here rather than as an
// opaque STS refusal.
var awsRegionName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })

// awsSource signs GetCallerIdentity with credentials from the environment or
// the EC2 instance-metadata service (IMDSv1, or v2 when
// imdsv2_session_token_url is set).
type awsSource struct {
	regionURL   string
	credsURL    string
	sessionURL  string // IMDSv2
	verifyURL   string // with {region}
	audience    string
	getenv      func(string) string
	client      *http.Client // for instance metadata
	envKeyID    string       // AWS_ACCESS_KEY_ID at load time, for identity
	now         func() time.Time
	serviceName string
}

func newAWSSource(cs *credsfile.CredentialSource, audience string, s *settings) (*awsSource, error) {
	v, ok := strings.CutPrefix(cs.EnvironmentID, "aws")
	if !ok {
		return nil, &credsfile.FieldError{Field: "environment_id", Err: fmt.Errorf("%q is not an AWS environment (want \"aws1\")", trimForError(cs.EnvironmentID))}
	}
	if v != "1" {
		return nil, &credsfile.FieldError{Field: "environment_id", Err: fmt.Errorf("AWS version %q is not supported (want \"aws1\")", trimForError(v))}
	}
	a := &awsSource{
		regionURL:  cs.RegionURL,
		credsURL:   cs.URL,
		sessionURL: cs.IMDSv2SessionTokenURL,
		verifyURL:  defaultAWSVerificationURL,
		audience:   audience,
		getenv:     s.Getenv,
		client:     s.metadataClient,
		envKeyID:   s.Getenv(envAWSAccessKeyID),
		now:        time.Now,
	}
	if cs.RegionalCredVerificationURL != "" {
		a.verifyURL = cs.RegionalCredVerificationURL
	}
	for _, f := range []struct{ name, v string }{
		{"region_url", a.regionURL}, {"url", a.credsURL}, {"imdsv2_session_token_url", a.sessionURL},
	} {
		if f.v != "" {
			if err := endpoints.CheckURL(f.v); err != nil {
				return nil, &credsfile.FieldError{Field: f.name, Err: err}
			}
		}
	}
	probe, err := url.Parse(strings.ReplaceAll(a.verifyURL, "{region}", "us-east-1"))
	if err != nil || probe.Scheme != "https" || probe.Host == "" {
		return nil, &credsfile.FieldError{Field: "regional_cred_verification_url", Err: fmt.Errorf("%q is not an https URL", trimForError(a.verifyURL))}
	}
	// The signing service is the host's first label (sts), without the
	// -fips suffix, as in Google's Go library.
	a.serviceName = strings.TrimSuffix(strings.Split(probe.Hostname(), ".")[0], "-fips")
	return a, nil
}

func (a *awsSource) describe() string { return "AWS" }

func (a *awsSource) identity() string {
	return "aws:" + a.verifyURL + "#" + a.credsURL + "#" + a.envKeyID
}

func (a *awsSource) endpoints() []string {
	var eps []string
	for _, u := range []string{a.sessionURL, a.regionURL, a.credsURL} {
		if u != "" {
			eps = append(eps, u)
		}
	}
	return eps
}

// subjectToken follows the algorithm of protocol.md §8.4.
func (a *awsSource) subjectToken(ctx context.Context) (string, error) {
	creds, region, err := a.resolve(ctx)
	if err != nil {
		return "", err
	}
	return a.sign(ctx, creds, region)
}

// pin reads the region and the credentials once. The signed request itself
// is made per exchange, since it carries the time; the credentials decide
// who it is for.
func (a *awsSource) pin(ctx context.Context) (credentialSource, error) {
	creds, region, err := a.resolve(ctx)
	if err != nil {
		return nil, err
	}
	return &pinnedAWS{awsSource: a, creds: creds, region: region}, nil
}

// pinnedAWS signs with the credentials pin read.
type pinnedAWS struct {
	*awsSource
	creds  aws.Credentials
	region string
}

func (p *pinnedAWS) subjectToken(ctx context.Context) (string, error) {
	return p.sign(ctx, p.creds, p.region)
}
func (p *pinnedAWS) pin(context.Context) (credentialSource, error) { return p, nil }

// identity adds the access key id and session token: an instance's role
// credentials rotate, and a role attached in place of another brings new
// ones. The secret key is left out: a key id has one secret.
func (p *pinnedAWS) identity() string {
	return p.awsSource.identity() + "#credentials:" + fingerprint("AWS credentials", p.creds.AccessKeyID, p.creds.SessionToken)
}

// resolve finds the region and the credentials to sign with: the
// environment's, else the instance's from instance metadata.
func (a *awsSource) resolve(ctx context.Context) (creds aws.Credentials, region string, err error) {
	keyID, secret := a.getenv(envAWSAccessKeyID), a.getenv(envAWSSecretKey)
	switch {
	case keyID != "" && secret == "":
		return aws.Credentials{}, "", fmt.Errorf("%s is set but %s is not: set both, or neither to use the instance's role", envAWSAccessKeyID, envAWSSecretKey)
	case keyID == "" && secret != "":
		return aws.Credentials{}, "", fmt.Errorf("%s is set but %s is not: set both, or neither to use the instance's role", envAWSSecretKey, envAWSAccessKeyID)
	}
	region, regionFrom := a.getenv(envAWSRegion), envAWSRegion
	if region == "" {
		region, regionFrom = a.getenv(envAWSDefaultRegion), envAWSDefaultRegion
	}
	// IMDSv2: one session for the metadata requests, only if any is needed.
	md := http.Header{}
	if (region == "" || keyID == "") && a.sessionURL != "" {
		tok, err := a.imdsSession(ctx)
		if err != nil {
			return aws.Credentials{}, "", err
		}
		md.Set("X-aws-ec2-metadata-token", tok)
	}
	if region == "" {
		if region, regionFrom, err = a.instanceRegion(ctx, md); err != nil {
			return aws.Credentials{}, "", err
		}
	}
	if !awsRegionName().MatchString(region) {
		return aws.Credentials{}, "", fmt.Errorf("the AWS region %q (from %s) is not a region name like us-east-2", trimForError(region), regionFrom)
	}
	if keyID != "" {
		return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: a.getenv(envAWSSessionToken)}, region, nil
	}
	creds, err = a.roleCredentials(ctx, md)
	return creds, region, err
}

// imdsSession gets an IMDSv2 session token.
func (a *awsSource) imdsSession(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, a.sessionURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", imdsTTL)
	tok, err := sendExpectingOK(a.client, req, "get an IMDSv2 session token")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(tok)), nil
}

// instanceRegion reads the region from the instance's availability zone.
func (a *awsSource) instanceRegion(ctx context.Context, md http.Header) (region, from string, err error) {
	if a.regionURL == "" {
		return "", "", fmt.Errorf("no AWS region: set %s (or %s), or add credential_source.region_url (instance metadata)", envAWSRegion, envAWSDefaultRegion)
	}
	zone, err := get(ctx, a.client, "read the AWS availability zone", a.regionURL, md)
	if err != nil {
		return "", "", err
	}
	z := strings.TrimSpace(string(zone))
	if len(z) < 2 {
		return "", "", fmt.Errorf("instance metadata at %s gave the availability zone %q, which names no region", a.regionURL, trimForError(z))
	}
	return z[:len(z)-1], "the availability zone at " + a.regionURL, nil // us-east-2b → us-east-2
}

// roleCredentials reads the credentials of the instance's IAM role.
func (a *awsSource) roleCredentials(ctx context.Context, md http.Header) (aws.Credentials, error) {
	if a.credsURL == "" {
		return aws.Credentials{}, fmt.Errorf("no AWS credentials: %s and %s are not set, and credential_source has no url for the instance's role", envAWSAccessKeyID, envAWSSecretKey)
	}
	role, err := get(ctx, a.client, "read the AWS role name", a.credsURL, md)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("no AWS credentials in the environment (%s), and the instance's role: %w", envAWSAccessKeyID, err)
	}
	name := strings.TrimSpace(string(role))
	if name == "" || strings.ContainsAny(name, "/\n") {
		return aws.Credentials{}, fmt.Errorf("instance metadata at %s names no single IAM role (attach one to the instance)", a.credsURL)
	}
	data, err := get(ctx, a.client, "read the AWS role's credentials", strings.TrimRight(a.credsURL, "/")+"/"+url.PathEscape(name), md)
	if err != nil {
		return aws.Credentials{}, err
	}
	var c struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		Token           string `json:"Token"`
	}
	if err := json.Unmarshal(data, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return aws.Credentials{}, fmt.Errorf("instance metadata for role %q has no AccessKeyId and SecretAccessKey", name)
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.Token}, nil
}

// sign builds the signed GetCallerIdentity request and serializes it as
// Google's Go library does (canonical header names, sorted, QueryEscape).
// x-goog-cloud-target-resource is signed too, as Go does, so that a token
// cannot be replayed against another provider.
func (a *awsSource) sign(ctx context.Context, creds aws.Credentials, region string) (string, error) {
	u := strings.ReplaceAll(a.verifyURL, "{region}", region)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", fmt.Errorf("regional_cred_verification_url: %v", err)
	}
	req.Header.Set("X-Goog-Cloud-Target-Resource", a.audience)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, a.serviceName, region, a.now().UTC()); err != nil {
		return "", fmt.Errorf("sign the GetCallerIdentity request: %w", err)
	}
	type header struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	hs := []header{{"Host", req.URL.Host}}
	for k, v := range req.Header {
		hs = append(hs, header{k, v[0]})
	}
	slices.SortFunc(hs, func(x, y header) int { return strings.Compare(x.Key, y.Key) })
	b, err := json.Marshal(struct {
		URL     string   `json:"url"`
		Method  string   `json:"method"`
		Headers []header `json:"headers"`
	}{u, http.MethodPost, hs})
	if err != nil {
		return "", err
	}
	return url.QueryEscape(string(b)), nil
}
