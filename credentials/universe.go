package credentials

import (
	"errors"
	"fmt"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Universe domains (see Credentials.UniverseDomain). Outside Google's public
// universe, googleapis.com, this package does what Google's libraries do
// (cloud.google.com/go/auth credentials/filetypes.go and idtoken/file.go;
// google-auth oauth2/service_account.py and oauth2/credentials.py;
// google-auth-library auth/jwtclient.js):
//
//   - endpoints are https://{service}.{universe}: the token endpoint
//     oauth2.{universe}/token, IAM Credentials iamcredentials.{universe},
//     STS sts.{universe}/v1/token;
//   - a service-account key's access tokens are self-signed JWTs (its scopes
//     in the scope claim), never exchanged at a token endpoint: there is
//     none for keys in such a universe;
//   - its ID tokens come from IAM Credentials' generateIdToken for the
//     account itself, authenticated with a self-signed JWT for the iam scope
//     (as google-auth does; the account needs roles/iam.serviceAccountTokenCreator
//     on itself);
//   - domain-wide delegation (WithSubject) and the refresh of user
//     (authorized_user) credentials are refused.

// EnvUniverseDomain is the universe a client is configured for when no
// option names one; see ClientUniverseDomain.
const EnvUniverseDomain = endpoints.EnvUniverseDomain

// UniverseMismatchError is a credential of one universe used by a client
// configured for another. Its message is that of Google's Go transports
// (cloud.google.com/go/auth internal/transport.ValidateUniverseDomain); the
// other libraries' say the same. It matches gcptoken.ErrInvalidCredentials.
type UniverseMismatchError struct {
	// Configured is the client's universe, Credentials the credential's.
	Configured, Credentials string
}

func (e *UniverseMismatchError) Error() string {
	return fmt.Sprintf("the configured universe domain (%q) does not match the universe domain found in the credentials (%q). "+
		"If you haven't configured the universe domain explicitly, %q is the default",
		e.Configured, e.Credentials, DefaultUniverseDomain)
}

// Is lets errors.Is(err, gcptoken.ErrInvalidCredentials) match.
func (e *UniverseMismatchError) Is(target error) bool {
	return target == gcptoken.ErrInvalidCredentials
}

// ClientUniverseDomain returns the universe a client is configured for, with
// the precedence of Google's Go transports: configured if not empty, else
// $GOOGLE_CLOUD_UNIVERSE_DOMAIN (read through getenv; nil means os.Getenv),
// else DefaultUniverseDomain.
func ClientUniverseDomain(configured string, getenv func(string) string) string {
	return endpoints.ClientUniverse(configured, getenv)
}

// CheckUniverseDomain returns a *UniverseMismatchError unless the
// credential belongs to universe, the client's ("" means
// DefaultUniverseDomain). Clients call it before they send a token, as
// Google's do: a token of one universe means nothing in another, and
// sending it there hands it to whoever runs that universe's endpoints.
func (c *Credentials) CheckUniverseDomain(universe string) error {
	if c == nil || c.impl == nil {
		return errNotLoaded
	}
	if universe == "" {
		universe = DefaultUniverseDomain
	}
	if own := universeOf(c.UniverseDomain); own != universe {
		return &UniverseMismatchError{Configured: universe, Credentials: own}
	}
	return nil
}

// universeOf is u, or DefaultUniverseDomain for "".
func universeOf(u string) string {
	if u == "" {
		return DefaultUniverseDomain
	}
	return u
}

func isDefaultUniverse(u string) bool { return universeOf(u) == DefaultUniverseDomain }

// defaultTokenURL is Google's OAuth token endpoint in universe.
func defaultTokenURL(universe string) string {
	return endpoints.ServiceURL(endpoints.ServiceOAuth2, universeOf(universe)) + "/token"
}

// defaultSTSEndpoint is STS's token exchange in universe.
func defaultSTSEndpoint(universe string) string {
	return endpoints.ServiceURL(endpoints.ServiceSTS, universeOf(universe)) + "/v1/token"
}

// defaultIAMEndpoint is the IAM Credentials API's base URL in universe.
func defaultIAMEndpoint(universe string) string {
	return endpoints.ServiceURL(endpoints.ServiceIAMCredentials, universeOf(universe))
}

// errUniverseDWD refuses domain-wide delegation outside googleapis.com, in
// the words of Google's Go and Node libraries.
var errUniverseDWD = errors.New("credentials: domain-wide delegation is not supported in universes other than " + DefaultUniverseDomain)

// userRefreshRefused is google-auth's refusal to refresh user credentials
// of another universe (oauth2/credentials.py): Google has no OAuth token
// endpoint for users there.
func userRefreshRefused(universe string) error {
	return invalid("authorized_user credentials", fmt.Errorf("refresh is only supported in the %s universe domain, "+
		"but the credential's universe domain is %s", DefaultUniverseDomain, universe))
}
