package idtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Payload is a verified token's claims in the shape of
// google.golang.org/api/idtoken's (and cloud.google.com/go/auth's) Payload,
// so that code written for those packages moves by changing the import.
type Payload struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Expires  int64  `json:"exp"`
	IssuedAt int64  `json:"iat"`
	Subject  string `json:"sub,omitempty"`
	// Claims holds every claim, as encoding/json decodes it (the email is
	// Claims["email"]).
	Claims map[string]any `json:"-"`
}

// payload converts verified claims; aud is the audience that matched.
func payload(c *Claims, aud string) *Payload {
	p := &Payload{Issuer: c.Issuer, Audience: aud, Subject: c.Subject, Claims: c.Raw}
	if !c.Expiry.IsZero() {
		p.Expires = c.Expiry.Unix()
	}
	if !c.IssuedAt.IsZero() {
		p.IssuedAt = c.IssuedAt.Unix()
	}
	return p
}

// ParsePayload decodes a token's claims WITHOUT verifying anything: for
// looking at a token that Validate refused, never for deciding whom to
// trust. As google.golang.org/api/idtoken.ParsePayload.
func ParsePayload(idToken string) (*Payload, error) {
	if err := checkCompact(idToken); err != nil {
		return nil, err
	}
	seg := strings.Split(idToken, ".")[1]
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return nil, rejectf(ReasonMalformed, "not a JWT: claims segment: %v", err)
	}
	c, err := parseClaims(raw)
	if err != nil {
		return nil, rejectf(ReasonMalformed, "%v", err)
	}
	return payload(c, strings.Join(c.Audience, " ")), nil
}

// ValidatorOptions configures NewValidator; the names are those of
// cloud.google.com/go/auth/credentials/idtoken. A nil *ValidatorOptions
// means all defaults.
type ValidatorOptions struct {
	// Client fetches the signing keys. Optional; by default validators
	// made without one share one key cache per URL, fetched with a 30 s
	// timeout.
	Client *http.Client
	// RS256CertsURL is the JWKS of Google's ID-token keys. Optional;
	// default as KeySetOptions.URL ($GCPTOKEN_CERTS_URL, else the
	// emulator's when GCPTOKEN_EMULATOR_HOST is set, else GoogleKeysURL).
	RS256CertsURL string
	// ES256CertsURL is the JWKS of Identity-Aware Proxy's keys. Optional;
	// default IAPKeysURL (the emulator's when GCPTOKEN_EMULATOR_HOST is
	// set).
	ES256CertsURL string
}

// Validator checks Google ID tokens (RS256) and Identity-Aware Proxy
// assertions (ES256) for an audience given per call, like Google's
// Validator; it is a pair of Verifiers over shared key sets. It is safe
// for concurrent use.
type Validator struct {
	google, iap *KeySet
}

// NewValidator returns a Validator. It fetches nothing until the first
// Validate call.
func NewValidator(opts *ValidatorOptions) (*Validator, error) {
	var o ValidatorOptions
	if opts != nil {
		o = *opts
	}
	var err error
	if o.RS256CertsURL == "" {
		if o.RS256CertsURL, err = defaultKeysURL(endpoints.EnvCertsURL, GoogleKeysURL); err != nil {
			return nil, err
		}
	}
	if o.ES256CertsURL == "" {
		if o.ES256CertsURL, err = defaultKeysURL("", IAPKeysURL); err != nil {
			return nil, err
		}
	}
	v := &Validator{}
	if v.google, err = keySetFor(o.RS256CertsURL, o.Client); err != nil {
		return nil, fmt.Errorf("idtoken: ValidatorOptions.RS256CertsURL: %w", err)
	}
	if v.iap, err = keySetFor(o.ES256CertsURL, o.Client); err != nil {
		return nil, fmt.Errorf("idtoken: ValidatorOptions.ES256CertsURL: %w", err)
	}
	return v, nil
}

// sharedKeySets are the key sets of validators made without a Client, by
// URL: the package-level Validate makes a Validator per call, and Google's
// keys must still be fetched once, not per token.
var sharedKeySets sync.Map // string → *KeySet

func keySetFor(url string, client *http.Client) (*KeySet, error) {
	if client != nil {
		return NewKeySet(&KeySetOptions{URL: url, HTTPClient: client})
	}
	if ks, ok := sharedKeySets.Load(url); ok {
		return ks.(*KeySet), nil
	}
	ks, err := NewKeySet(&KeySetOptions{URL: url})
	if err != nil {
		return nil, err
	}
	actual, _ := sharedKeySets.LoadOrStore(url, ks)
	return actual.(*KeySet), nil
}

// errNoAudience refuses what Google's Validate allows: an empty audience
// there skips the check, and a service that passes one by mistake accepts
// tokens minted for any other service.
var errNoAudience = errors.New("idtoken: Validate needs the audience the token must carry (the service's URL, or the IAP " +
	"audience); unlike google.golang.org/api/idtoken, an empty audience is refused, not a skipped check (use a Verifier " +
	"with SkipAudienceCheck to inspect tokens)")

// Validate verifies idToken for audience and returns its claims: an ES256
// token as an Identity-Aware Proxy assertion (issuer IAPIssuer, IAP's
// keys), any other as a Google ID token (RS256, Google's issuers and
// keys). Everything is checked, as by a Verifier: signature, algorithm,
// issuer, audience, expiry and issue time. Failures are *VerifyError. An
// empty audience is an error.
func (v *Validator) Validate(ctx context.Context, idToken, audience string) (*Payload, error) {
	if v == nil || v.google == nil {
		return nil, errors.New("idtoken: a Validator must be made with NewValidator")
	}
	if audience == "" {
		return nil, errNoAudience
	}
	// A Verifier per call, so a cache of verified tokens would never be
	// hit: none.
	opts := &Options{Audiences: []string{audience}, KeySet: v.google, CacheSize: -1}
	newVerifier := NewVerifier
	if isES256(idToken) {
		opts.KeySet, newVerifier = v.iap, NewIAPVerifier
	}
	ver, err := newVerifier(opts)
	if err != nil {
		return nil, err
	}
	c, err := ver.Verify(ctx, idToken)
	if err != nil {
		return nil, err
	}
	return payload(c, audience), nil
}

// isES256 reports whether the token's header names ES256. It only picks
// the verifier, which checks the header again.
func isES256(token string) bool {
	head, _, ok := strings.Cut(token, ".")
	if !ok || len(head) > MaxTokenSize {
		return false
	}
	h, err := parseHeader(head)
	return err == nil && h.Alg == "ES256"
}

// Validate verifies idToken for audience with Google's keys (and IAP's,
// for ES256 tokens), as google.golang.org/api/idtoken.Validate does, but
// checking the issuer too and refusing an empty audience. Key sets are
// shared across calls and cached. GCPTOKEN_EMULATOR_HOST (read at each
// call) sends the key requests to the emulator.
func Validate(ctx context.Context, idToken, audience string) (*Payload, error) {
	v, err := NewValidator(nil)
	if err != nil {
		return nil, err
	}
	return v.Validate(ctx, idToken, audience)
}
