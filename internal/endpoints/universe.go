package endpoints

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Universe domains. Google Cloud runs in more than one universe: the public
// one, googleapis.com, and others (sovereign and air-gapped clouds) whose
// APIs have the same names under another domain. Google's libraries derive
// every endpoint of a universe the same way, "https://" + service + "." +
// universe (cloud.google.com/go/auth: "https://iamcredentials.UNIVERSE_DOMAIN";
// google-auth: "https://sts.{universe_domain}/v1/token";
// google-auth-library: `https://cloudresourcemanager.${universeDomain}`).
const (
	// DefaultUniverse is Google Cloud's public universe.
	DefaultUniverse = "googleapis.com"
	// EnvUniverseDomain is the universe a client is configured for, read by
	// Google's Go transports and Python's API clients
	// (google.api_core.universe) when no option names one.
	EnvUniverseDomain = "GOOGLE_CLOUD_UNIVERSE_DOMAIN"
)

// The services whose host names Google's auth libraries derive from the
// universe domain.
const (
	ServiceOAuth2               = "oauth2"               // the OAuth 2.0 token endpoint
	ServiceIAMCredentials       = "iamcredentials"       // impersonation, signing, ID tokens
	ServiceSTS                  = "sts"                  // token exchange: federation, downscoping
	ServiceCloudResourceManager = "cloudresourcemanager" // project ids of federated credentials
)

// ClientUniverse returns the universe a client is configured for, with the
// precedence of Google's Go transports: configured if not empty, else
// $GOOGLE_CLOUD_UNIVERSE_DOMAIN (read through getenv; nil means
// os.Getenv), else DefaultUniverse.
func ClientUniverse(configured string, getenv func(string) string) string {
	if configured != "" {
		return configured
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	return cmp.Or(getenv(EnvUniverseDomain), DefaultUniverse)
}

// ServiceURL is "https://{service}.{universe}": the base URL of service in
// universe ("" means DefaultUniverse).
func ServiceURL(service, universe string) string {
	if universe == "" {
		universe = DefaultUniverse
	}
	return "https://" + service + "." + universe
}

// CheckUniverseDomain accepts a universe domain: a lower-case DNS name of
// at least two labels, such as "googleapis.com". Endpoints are built by
// putting it after "https://service.", so anything else (a port, a path,
// "@" user info, upper case that would compare unequal to the same name) is
// refused rather than turned into a URL that points elsewhere.
func CheckUniverseDomain(d string) error {
	if d == "" {
		return errors.New("empty universe domain")
	}
	shown := d
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	bad := func(why string) error {
		return fmt.Errorf("%q is not a universe domain (%s; want a DNS name such as %q)", shown, why, DefaultUniverse)
	}
	if len(d) > 253 {
		return bad("longer than 253 characters")
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return bad("one label only")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return bad("empty or over-long label")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("a label starts or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return bad("only lower-case letters, digits, '-' and '.'")
			}
		}
	}
	return nil
}
