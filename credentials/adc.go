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
// were granted): Detect and Credentials.AccessToken in one call.
//
// Call it as often as needed: the credentials are found once per process
// (again when a variable that Detect reads changes, such as
// GOOGLE_APPLICATION_CREDENTIALS or GCPTOKEN_EMULATOR_HOST), and tokens
// are cached per scope set, refreshed ahead of expiry and shared by
// concurrent callers. A credential file replaced in place is read again
// only by a new process.
func AccessToken(ctx context.Context, scopes ...string) (*gcptoken.Token, error) {
	c, err := adc.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return c.AccessToken(ctx, scopes...)
}

// IDToken returns an ID token of Application Default Credentials for
// audience (for Cloud Run, the service's URL): Detect and
// Credentials.IDToken in one call, cached as AccessToken's tokens are.
func IDToken(ctx context.Context, audience string) (*gcptoken.Token, error) {
	c, err := adc.credentials(ctx)
	if err != nil {
		return nil, err
	}
	return c.IDToken(ctx, audience)
}

// adcEnv are the variables Detect reads: when one changes, the process's
// Application Default Credentials are found again.
var adcEnv = []string{
	envCredentials, envCloudSDK, envMetadataHost, envMetadataIP, envNoGCECheck, envQuotaProject, envProject,
	"APPDATA", "HOME", endpoints.EnvEmulatorHost, endpoints.EnvIAMEndpoint, endpoints.EnvSTSEndpoint,
}

// adc is the process's Application Default Credentials, for AccessToken
// and IDToken.
var adc adcCache

type adcCache struct {
	mu        sync.Mutex
	env       string // the adcEnv values creds were found with
	creds     *Credentials
	detecting chan struct{} // closed when the running Detect ends; nil if none runs
}

// credentials returns the credentials of the current environment, finding
// them first if needed. One Detect runs at a time; callers waiting for it
// give up with their ctx.
func (a *adcCache) credentials(ctx context.Context) (*Credentials, error) {
	for {
		env := adcFingerprint()
		a.mu.Lock()
		if a.creds != nil && a.env == env {
			defer a.mu.Unlock()
			return a.creds, nil
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
			a.env, a.creds = env, c
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
