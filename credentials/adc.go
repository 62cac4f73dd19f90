package credentials

import (
	"context"
	"os"
	"strings"
	"sync"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// AccessToken returns an access token of Application Default Credentials
// for scopes (none: DefaultScope, or for user credentials the scopes they
// were granted): the one-call form of Detect and AccessTokenProvider.
//
// Call it as often as needed: the credentials are found once per process
// (again when a variable that Detect reads changes, such as
// GOOGLE_APPLICATION_CREDENTIALS or GCPTOKEN_EMULATOR_HOST), and tokens
// are cached per scope set, refreshed ahead of expiry and shared by
// concurrent callers. A credential file that is replaced in place is not
// read again until the process restarts.
func AccessToken(ctx context.Context, scopes ...string) (*gcptoken.Token, error) {
	key := "a\x00" + strings.Join(scopes, " ")
	tp, err := adc.provider(ctx, key, func(c *Credentials) (gcptoken.TokenProvider, error) {
		return c.AccessTokenProvider(scopes)
	})
	if err != nil {
		return nil, err
	}
	return tp.Token(ctx)
}

// IDToken returns an ID token of Application Default Credentials for
// audience (for Cloud Run, the service's URL): the one-call form of Detect
// and IDTokenProvider, cached per audience as AccessToken's tokens are per
// scope set.
func IDToken(ctx context.Context, audience string) (*gcptoken.Token, error) {
	tp, err := adc.provider(ctx, "i\x00"+audience, func(c *Credentials) (gcptoken.TokenProvider, error) {
		return c.IDTokenProvider(audience, nil)
	})
	if err != nil {
		return nil, err
	}
	return tp.Token(ctx)
}

// adcEnv are the variables Detect reads: when one changes, the process's
// Application Default Credentials are found again.
var adcEnv = []string{
	envCredentials, envCloudSDK, envMetadataHost, envMetadataIP, envNoGCECheck, envQuotaProject, envProject,
	"APPDATA", "HOME", endpoints.EnvEmulatorHost, endpoints.EnvIAMEndpoint, endpoints.EnvSTSEndpoint,
}

// maxADCProviders bounds the cached providers (one per scope set and
// audience); past it the cache starts again.
const maxADCProviders = 64

// adc is the process's Application Default Credentials and their cached
// providers, for AccessToken and IDToken.
var adc adcCache

type adcCache struct {
	mu        sync.Mutex
	env       string // the adcEnv values creds were found with
	creds     *Credentials
	providers map[string]gcptoken.TokenProvider
	detecting chan struct{} // closed when the running Detect ends; nil if none runs
}

// provider returns the cached provider for key, making it with mk from the
// credentials of the current environment, which it finds first if needed.
// One Detect runs at a time; callers waiting for it give up with their ctx.
func (a *adcCache) provider(ctx context.Context, key string, mk func(*Credentials) (gcptoken.TokenProvider, error)) (gcptoken.TokenProvider, error) {
	for {
		env := adcFingerprint()
		a.mu.Lock()
		if a.creds != nil && a.env == env {
			defer a.mu.Unlock()
			if p, ok := a.providers[key]; ok {
				return p, nil
			}
			p, err := mk(a.creds) // makes no request
			if err != nil {
				return nil, err
			}
			if len(a.providers) >= maxADCProviders {
				clear(a.providers)
			}
			a.providers[key] = p
			return p, nil
		}
		if wait := a.detecting; wait != nil {
			a.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		a.detecting = done
		a.mu.Unlock()
		c, err := Detect(ctx, nil)
		a.mu.Lock()
		a.detecting = nil
		close(done)
		if err == nil {
			a.env, a.creds, a.providers = env, c, map[string]gcptoken.TokenProvider{}
		}
		a.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

func adcFingerprint() string {
	var b strings.Builder
	for _, k := range adcEnv {
		b.WriteString(os.Getenv(k))
		b.WriteByte(0)
	}
	return b.String()
}
