package credentials

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/redirect"
)

// DefaultTokenInfoURL is Google's tokeninfo endpoint.
const DefaultTokenInfoURL = "https://oauth2.googleapis.com/tokeninfo"

const opTokenInfo = "ask tokeninfo"

// TokenInfoOptions configures TokenInfo. A nil *TokenInfoOptions means all
// defaults.
type TokenInfoOptions struct {
	// Endpoint is the tokeninfo URL. Optional; default
	// $GCPTOKEN_TOKENINFO_URL, else the emulator's when
	// GCPTOKEN_EMULATOR_HOST is set, else DefaultTokenInfoURL.
	Endpoint string
	// HTTPClient makes the request. Optional; default the package's
	// default client (see Options.HTTPClient). A redirect to another
	// origin is refused unless it has a CheckRedirect of its own: the body
	// is the token.
	HTTPClient *http.Client
	// Getenv reads the endpoint variables. Optional; default os.Getenv.
	Getenv func(string) string
}

// TokenInfo asks Google's tokeninfo endpoint what an opaque access token
// is: its scope, expiry (expires_in), audience and, with the email scope,
// the principal's email. The token goes in a POST body, never in the URL,
// so that it does not land in server or proxy access logs.
//
// An answer of 400, Google's for an unknown, expired or revoked token and
// for one that is not an access token, is an error matching
// gcptoken.ErrInvalidCredentials: the token is bad, the service fine. Other
// failures are *gcptoken.Error.
func TokenInfo(ctx context.Context, token string, opts *TokenInfoOptions) (map[string]any, error) {
	endpoint, client, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("credentials: TokenInfo: %w", err)
	}
	form := url.Values{"access_token": {token}}
	body, err := post(ctx, client, opTokenInfo, endpoint, contentTypeForm, []byte(form.Encode()), nil)
	if ge := (*gcptoken.Error)(nil); errors.As(err, &ge) && ge.StatusCode == http.StatusBadRequest {
		return nil, invalid("tokeninfo at "+endpoint, errors.New("the token is not accepted (expired, revoked, or not an access token)"))
	}
	if err != nil {
		return nil, err
	}
	var info map[string]any
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, tokenReply{opTokenInfo, endpoint}.malformed(err)
	}
	return info, nil
}

// resolve picks the endpoint and the client.
func (opts *TokenInfoOptions) resolve() (string, *http.Client, error) {
	var o TokenInfoOptions
	if opts != nil {
		o = *opts
	}
	client := cmp.Or(redirect.Guard(o.HTTPClient), defaultClient())
	if o.Endpoint != "" {
		if err := endpoints.CheckURL(o.Endpoint); err != nil {
			return "", nil, fmt.Errorf("TokenInfoOptions.Endpoint: %w", err)
		}
		return o.Endpoint, client, nil
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	ends, err := endpoints.FromEnv(o.Getenv)
	if err != nil {
		return "", nil, err
	}
	endpoint, err := ends.URL(endpoints.EnvTokenInfoURL, DefaultTokenInfoURL)
	return endpoint, client, err
}
