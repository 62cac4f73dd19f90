package credentials

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/redirect"
)

// Google's production endpoints and defaults.
const (
	// DefaultTokenURL is Google's OAuth 2.0 token endpoint.
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	// DefaultMetadataHost is the metadata server's link-local address.
	DefaultMetadataHost = "169.254.169.254"
	// DefaultMetadataProbeTimeout bounds the "is there a metadata server?"
	// probe: off Google Cloud nothing answers at all, and ADC must not make
	// the user wait seconds to learn that.
	DefaultMetadataProbeTimeout = 300 * time.Millisecond
	// DefaultUniverseDomain is the universe of Google Cloud's public cloud.
	DefaultUniverseDomain = "googleapis.com"
	// defaultMetadataFactsTimeout bounds what Detect asks a metadata server
	// it has chosen (email, project, universe): those facts are nice to
	// have, and must not hold up a command that only wants a token.
	defaultMetadataFactsTimeout = 2 * time.Second
)

// Environment variables read through Options.Getenv.
const (
	envCredentials  = "GOOGLE_APPLICATION_CREDENTIALS"
	envCloudSDK     = "CLOUDSDK_CONFIG"
	envMetadataHost = "GCE_METADATA_HOST"
	envMetadataIP   = "GCE_METADATA_IP"
	envNoGCECheck   = "NO_GCE_CHECK"
	envQuotaProject = "GOOGLE_CLOUD_QUOTA_PROJECT"
	envProject      = "GOOGLE_CLOUD_PROJECT"
)

// Options configures Detect, FromFile and FromJSON. A nil *Options means all
// defaults.
type Options struct {
	// CredentialsFile is an explicit credentials file (the CLI's
	// --credentials). Optional. When set, Detect uses it and searches no
	// further. Mutually exclusive with CredentialsJSON.
	CredentialsFile string
	// CredentialsJSON is an explicit credential as JSON. Optional. When set,
	// Detect uses it and searches no further.
	CredentialsJSON []byte

	// HTTPClient makes every request. Optional; the default is a client
	// with dial, TLS-handshake and response-header timeouts (never
	// http.DefaultClient, which has none). The default for the metadata
	// server additionally bypasses HTTP proxies, as the metadata server is
	// link-local.
	//
	// Requests carry refresh tokens, client secrets, signed assertions and
	// bearer tokens, so redirects to another scheme, host or port are
	// refused, with this client too unless it has a CheckRedirect of its
	// own: net/http would post the body again to wherever a 307 points.
	HTTPClient *http.Client

	// TokenURL overrides the OAuth 2.0 token endpoint of every file
	// credential. Optional; the default is the file's token_uri (honoured
	// for authorized_user too, unlike Google's Go library), else
	// DefaultTokenURL. For service accounts it is also the assertion's
	// "aud", as in Google's Go library.
	//
	// GCPTOKEN_EMULATOR_HOST=host:port (read through Getenv) points every
	// endpoint that no option names at a fake Google such as `gcptoken
	// emulator`: the URLs of credential files and the defaults (token
	// endpoint, IAM Credentials, STS) go to http://host:port with their
	// paths, and the metadata server is host:port unless MetadataHost or
	// GCE_METADATA_HOST names one. GCPTOKEN_IAM_ENDPOINT and
	// GCPTOKEN_STS_ENDPOINT override the defaults of Impersonate and
	// Downscope.
	TokenURL string

	// MetadataHost is the metadata server's host[:port]. Optional; the
	// default is $GCE_METADATA_HOST, else $GCPTOKEN_EMULATOR_HOST, else the
	// probed address. When one of them is set, Detect uses the metadata
	// server without probing it (as Google's Go library does). Otherwise Detect probes
	// $GCE_METADATA_IP (as Google's Python and Node libraries do), else
	// DefaultMetadataHost, and uses what answers. NO_GCE_CHECK=true (Python's
	// switch) skips that probe, so that no metadata server is used unless
	// one is named here or by GCE_METADATA_HOST.
	MetadataHost string
	// MetadataProbeTimeout bounds Detect's probe of the metadata server.
	// Optional; default DefaultMetadataProbeTimeout.
	MetadataProbeTimeout time.Duration

	// GcloudStore reads the credentials of gcloud's signed-in accounts
	// (`gcloud auth login`, `gcloud auth activate-service-account`) for
	// Detect's step 4. Optional; without it that step is skipped. The
	// module github.com/gcptoken/gcptoken/credentials/gcloudstore provides
	// one; it is a module of its own so that programs that never use
	// gcloud's accounts do not link SQLite.
	GcloudStore GcloudStore
	// GcloudAccount names one of gcloud's signed-in accounts to use, as
	// gcloud's --account does: Detect then uses that account and searches
	// nothing else. Optional; needs GcloudStore. Mutually exclusive with
	// CredentialsFile and CredentialsJSON.
	GcloudAccount string
	// GcloudNoImpersonation makes the gcloud step ignore gcloud's
	// impersonation property (auth/impersonate_service_account, or
	// CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT), for a caller that
	// impersonates by itself. Optional; by default a gcloud account's
	// credentials impersonate as gcloud's do.
	GcloudNoImpersonation bool

	// Getenv reads environment variables. Optional; default os.Getenv.
	// Injected so that tests can run in parallel.
	Getenv func(string) string
	// HomeDir is the user's home directory, used to find gcloud's
	// well-known file. Optional; default os.UserHomeDir().
	HomeDir string

	// metadataFactsTimeout overrides defaultMetadataFactsTimeout. Tests only.
	metadataFactsTimeout time.Duration
}

// settings are Options with every default filled in.
type settings struct {
	Options
	client         *http.Client // for token endpoints
	metadataClient *http.Client
	ends           *endpoints.Env // GCPTOKEN_EMULATOR_HOST and the per-endpoint variables
	metadataHost   string         // set when metadataSource is
	metadataSource string         // where metadataHost came from, for Steps; "" if it must be probed
	probeHost      string         // $GCE_METADATA_IP, else DefaultMetadataHost
	probeSource    string         // envMetadataIP, or "" for the default
	noProbe        bool           // NO_GCE_CHECK=true
}

// resolve validates opts and fills in defaults. opts may be nil.
func (opts *Options) resolve() (*settings, error) {
	var s settings
	if opts != nil {
		s.Options = *opts
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.Getenv == nil {
		s.Getenv = os.Getenv
	}
	if s.MetadataProbeTimeout == 0 {
		s.MetadataProbeTimeout = DefaultMetadataProbeTimeout
	}
	if s.metadataFactsTimeout == 0 {
		s.metadataFactsTimeout = defaultMetadataFactsTimeout
	}
	ends, err := endpoints.FromEnv(s.Getenv)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	s.ends = ends
	s.client = redirect.Guard(s.HTTPClient)
	s.metadataClient = s.client
	if s.HTTPClient == nil {
		s.client, s.metadataClient = defaultClient(), defaultMetadataClient()
	}
	switch {
	case s.MetadataHost != "":
		h, _ := normalizeHost(s.MetadataHost) // validated above
		s.metadataHost, s.metadataSource = h, "Options.MetadataHost"
	case s.Getenv(envMetadataHost) != "":
		h, err := normalizeHost(s.Getenv(envMetadataHost))
		if err != nil {
			return nil, fmt.Errorf("credentials: %s: %w", envMetadataHost, err)
		}
		s.metadataHost, s.metadataSource = h, envMetadataHost
	case ends.Emulator() != "":
		s.metadataHost, s.metadataSource = ends.Emulator(), endpoints.EnvEmulatorHost
	case s.Getenv(envMetadataIP) != "":
		h, err := normalizeHost(s.Getenv(envMetadataIP))
		if err != nil {
			return nil, fmt.Errorf("credentials: %s: %w", envMetadataIP, err)
		}
		s.probeHost, s.probeSource = h, envMetadataIP
	default:
		s.probeHost = DefaultMetadataHost
	}
	// Python compares with "true"; accept any case, as people write True.
	s.noProbe = strings.EqualFold(strings.TrimSpace(s.Getenv(envNoGCECheck)), "true")
	return &s, nil
}

func (opts *Options) validate() error {
	if opts.CredentialsFile != "" && opts.CredentialsJSON != nil {
		return errors.New("credentials: set Options.CredentialsFile or Options.CredentialsJSON, not both")
	}
	if opts.GcloudAccount != "" {
		switch {
		case opts.CredentialsFile != "" || opts.CredentialsJSON != nil:
			return errors.New("credentials: set Options.GcloudAccount or an explicit credential, not both")
		case opts.GcloudStore == nil:
			return errors.New("credentials: Options.GcloudAccount needs Options.GcloudStore")
		}
	}
	if opts.TokenURL != "" {
		if err := endpoints.CheckURL(opts.TokenURL); err != nil {
			return fmt.Errorf("credentials: Options.TokenURL: %w", err)
		}
	}
	if opts.MetadataHost != "" {
		if _, err := normalizeHost(opts.MetadataHost); err != nil {
			return fmt.Errorf("credentials: Options.MetadataHost: %w", err)
		}
	}
	if opts.MetadataProbeTimeout < 0 {
		return errors.New("credentials: Options.MetadataProbeTimeout is negative")
	}
	return nil
}

// normalizeHost accepts host[:port], tolerating an "http://" prefix and a
// trailing slash (Node's library accepts a scheme, so people write one).
func normalizeHost(h string) (string, error) {
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "http://"), "/")
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || h == "" || u.User != nil {
		return "", fmt.Errorf("%q is not a host[:port]", h)
	}
	return h, nil
}

// defaultClient is shared so that connections are reused across
// credentials. Requests also honour their context; the timeouts here catch
// servers that accept a connection and then stall.
var defaultClient = sync.OnceValue(func() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
		},
		Timeout:       time.Minute,
		CheckRedirect: redirect.SameOrigin,
	}
})

// defaultMetadataClient never uses a proxy: the metadata server is
// link-local, and a proxy would see (or break) requests meant for it. The
// short dial timeout matches Google's metadata client.
var defaultMetadataClient = sync.OnceValue(func() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: 10 * time.Second,
			IdleConnTimeout:       60 * time.Second,
		},
		Timeout:       30 * time.Second,
		CheckRedirect: redirect.SameOrigin,
	}
})

// ID-token formats of the metadata server, for IDTokenOptions.TokenFormat.
const (
	// TokenFormatStandard asks for iss, sub, aud, azp, iat and exp only.
	TokenFormatStandard = "standard"
	// TokenFormatFull adds email, email_verified and a
	// google.compute_engine object describing the instance (project,
	// zone, instance id and name). It is the default, as in Google's
	// libraries.
	TokenFormatFull = "full"
)

// IDTokenOptions shape the ID tokens of IDTokenProvider and IDTokenSource.
// A nil *IDTokenOptions means all defaults.
type IDTokenOptions struct {
	// TokenFormat chooses the claims of ID tokens from the metadata
	// server: TokenFormatStandard or TokenFormatFull. Optional; default
	// TokenFormatFull, as in Google's libraries. Any other value is an
	// error, whatever the credential.
	//
	// Only the metadata server can add Compute Engine claims: other
	// credentials ignore the format (see Credentials.SupportsTokenFormat).
	// Ignoring rather than failing lets a metadata-server emulator backed
	// by a key pass on what its clients ask for.
	TokenFormat string
	// Licenses asks the metadata server to include the instance's license
	// codes. Optional; default false. When TokenFormat or Licenses is set,
	// licenses=TRUE or licenses=FALSE is sent; otherwise the parameter is
	// left out. Compute Engine honours it with the full format only; other
	// credentials ignore it.
	Licenses bool
	// IncludeEmail asks the IAM Credentials API to put the service
	// account's email and email_verified claims into ID tokens of
	// impersonated credentials (generateIdToken's includeEmail; gcloud's
	// --include-email). Optional; default false, as in Google's libraries.
	// Other credentials ignore it: a service-account key's ID tokens always
	// carry the email, and the metadata server's do with TokenFormatFull.
	IncludeEmail bool
}

// validate checks the options' values; whether they apply depends on the
// credential.
func (o *IDTokenOptions) validate() error {
	switch o.TokenFormat {
	case "", TokenFormatStandard, TokenFormatFull:
		return nil
	}
	f := o.TokenFormat
	if len(f) > 32 {
		f = f[:32] + "…"
	}
	return fmt.Errorf("credentials: IDTokenOptions.TokenFormat %q is not a format (want %q or %q)", f, TokenFormatStandard, TokenFormatFull)
}

func (o *IDTokenOptions) formatOrDefault() string {
	if o.TokenFormat == "" {
		return TokenFormatFull
	}
	return o.TokenFormat
}
