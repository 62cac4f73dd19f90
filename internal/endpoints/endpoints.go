// Package endpoints decides where gcptoken's requests to Google go: to
// Google's production URLs, unless GCPTOKEN_EMULATOR_HOST points every one
// of them at a local fake (the *_EMULATOR_HOST convention of Google's own
// emulators), or a per-endpoint variable overrides one. The library
// (credentials, idtoken) and the CLI read the environment through here, so
// that a program run under the emulator's env.sh talks to the emulator
// only.
package endpoints

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// Environment variables.
const (
	// EnvEmulatorHost is host:port of a fake Google (`gcptoken emulator`,
	// or fakegoogle in tests). When set, every endpoint whose URL comes
	// from a default or a credential file is sent there instead, over plain
	// http, with its path and query kept: the token endpoint, the IAM
	// Credentials API, STS, the ID-token signing keys and tokeninfo; and
	// the metadata server, as GCE_METADATA_HOST would (used without a
	// probe), unless GCE_METADATA_HOST names one. URLs given explicitly in
	// options keep precedence.
	EnvEmulatorHost = "GCPTOKEN_EMULATOR_HOST"
	// The per-endpoint overrides: each wins over EnvEmulatorHost for the
	// default of its endpoint (not for URLs in credential files).
	EnvIAMEndpoint  = "GCPTOKEN_IAM_ENDPOINT"  // IAM Credentials API base URL
	EnvSTSEndpoint  = "GCPTOKEN_STS_ENDPOINT"  // STS token-exchange URL, for downscoping
	EnvCertsURL     = "GCPTOKEN_CERTS_URL"     // JWKS of the ID-token signing keys
	EnvTokenInfoURL = "GCPTOKEN_TOKENINFO_URL" // tokeninfo
)

// Variables the CLI reads and the emulator's env.sh exports (package
// fakegoogle/emulator): named once here so writer and reader agree.
const (
	EnvEmulatorURL = "GCPTOKEN_EMULATOR_URL" // the emulator's base URL (`login`, `logout`)
	EnvAuthURL     = "GCPTOKEN_AUTH_URL"     // the authorization endpoint (`login`)
	// EnvAWSMetadataEndpoint is the AWS instance-metadata base URL that
	// `create-cred-config --aws` writes.
	EnvAWSMetadataEndpoint = "GCPTOKEN_AWS_METADATA_ENDPOINT"
	// EnvGcloudTokenHost is gcloud's own token endpoint setting.
	EnvGcloudTokenHost = "CLOUDSDK_AUTH_TOKEN_HOST"
)

// Env is the endpoint configuration of one environment. A nil *Env means
// Google's production URLs.
type Env struct {
	getenv   func(string) string
	emulator string // host:port, or ""
}

// FromEnv reads the environment through getenv (nil means os.Getenv) and
// checks EnvEmulatorHost.
func FromEnv(getenv func(string) string) (*Env, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	e := &Env{getenv: getenv}
	if h := strings.TrimSpace(getenv(EnvEmulatorHost)); h != "" {
		if err := checkHostPort(h); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvEmulatorHost, err)
		}
		e.emulator = h
	}
	return e, nil
}

// checkHostPort accepts host:port with a port, as Google's emulator
// variables do; a scheme or path is a mistake worth naming.
func checkHostPort(h string) error {
	host, port, err := net.SplitHostPort(h)
	if err != nil || host == "" || port == "" || strings.ContainsAny(h, "/?#@ ") {
		return fmt.Errorf("%q is not host:port (for example 127.0.0.1:8086; no scheme, no path)", h)
	}
	return nil
}

// Emulator returns the emulator's host:port, or "".
func (e *Env) Emulator() string {
	if e == nil {
		return ""
	}
	return e.emulator
}

// URL returns where the endpoint whose default URL is def goes: the URL in
// the variable override when that is set (and override is not ""), else def
// on the emulator, else def. A malformed override is an error naming it.
func (e *Env) URL(override, def string) (string, error) {
	if e == nil {
		return def, nil
	}
	if override != "" {
		if v := strings.TrimSpace(e.getenv(override)); v != "" {
			if err := CheckURL(v); err != nil {
				return "", fmt.Errorf("%s: %w", override, err)
			}
			return v, nil
		}
	}
	return e.Rewrite(def), nil
}

// Rewrite points u, a URL from a default or a credential file, at the
// emulator: scheme http, the emulator's host, u's path and query. Without
// an emulator, or if u does not parse, it returns u unchanged.
func (e *Env) Rewrite(u string) string {
	if e.Emulator() == "" {
		return u
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	p.Scheme, p.Host, p.User = "http", e.emulator, nil
	return p.String()
}

// CheckURL accepts absolute http and https URLs.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}
