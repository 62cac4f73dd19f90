package idtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	_ "crypto/sha256" // hashFor's hashes
	_ "crypto/sha512"
)

// Issuers.
const (
	// GoogleIssuer is the iss of Google ID tokens. Verifiers also accept
	// "accounts.google.com" by default: Google's documentation allows both.
	GoogleIssuer = "https://accounts.google.com"
	// IAPIssuer is the iss of Identity-Aware Proxy assertions.
	IAPIssuer = "https://cloud.google.com/iap"
)

// DefaultClockSkew is the default Options.ClockSkew: enough for machines
// kept in sync by NTP, small next to an ID token's one-hour lifetime.
// (Python google-auth allows 0, Node 300 s, go-oidc 5 min on nbf only.)
const DefaultClockSkew = 30 * time.Second

// MaxTokenSize is the longest token Verify parses. Google's ID tokens are
// about 1 KiB (metadata-server tokens with format=full and licenses about
// 1.5 KiB); 16 KiB leaves room for unusual claims while keeping a hostile
// input from costing more than a moment of base64 and JSON work.
const MaxTokenSize = 16 << 10

// supportedAlgorithms are the algorithms Options.Algorithms may name:
// asymmetric ones only. HMAC is not offered at all: a verifier holding only
// public keys that accepted HS256 could be fooled by a token "signed" with
// the public key as the secret.
var supportedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Options configures a Verifier.
type Options struct {
	// Audiences are the accepted aud values: the token must carry at least
	// one of them (for a Cloud Run service, its URL; for IAP,
	// "/projects/NUMBER/global/backendServices/ID" or
	// "/projects/NUMBER/apps/PROJECT_ID"). Required unless
	// SkipAudienceCheck.
	Audiences []string
	// Issuers are the accepted iss values. Optional; default GoogleIssuer
	// and "accounts.google.com".
	Issuers []string
	// Algorithms are the accepted signature algorithms (alg header).
	// Optional; default ["RS256"], what Google signs ID tokens with. Only
	// asymmetric algorithms (RS*, PS*, ES*, EdDSA) are allowed.
	Algorithms []string
	// KeysURL is the JWKS URL of the signing keys (what Google's
	// libraries call the certs URL). Optional; default as for
	// KeySetOptions.URL: $GCPTOKEN_CERTS_URL, else the emulator's when
	// GCPTOKEN_EMULATOR_HOST is set, else GoogleKeysURL (IAPKeysURL for
	// NewIAPVerifier). Mutually exclusive with KeySet.
	KeysURL string
	// KeySet supplies the public keys. Optional; default a KeySet over
	// KeysURL. Share one KeySet between verifiers that use the same URL:
	// it is the cache. It must come from NewKeySet or NewStaticKeySet.
	KeySet *KeySet
	// ClockSkew is the tolerance applied to exp, iat and nbf. Optional;
	// default DefaultClockSkew (30s). Negative means none: exact
	// comparisons, for tests with an injected clock.
	ClockSkew time.Duration
	// Now is the clock. Optional; default time.Now.
	Now func() time.Time
	// SkipAudienceCheck accepts any audience. Only for tools that inspect
	// tokens; a service that skips it accepts tokens minted for any other
	// service. Audiences must then be empty.
	SkipAudienceCheck bool
	// SkipExpiryCheck accepts expired tokens (iat and nbf are still
	// checked). Only for inspecting old tokens.
	SkipExpiryCheck bool
	// CacheSize is how many accepted tokens the Verifier remembers, by
	// their SHA-256, so that verifying one again (a caller reuses its ID
	// token for up to an hour) costs about a microsecond instead of a
	// signature check: the least recently used are dropped beyond it. A
	// remembered token is still refused once it expires, or once a
	// refetch of the key set drops or replaces its key. Optional; default
	// DefaultCacheSize; negative means no cache.
	CacheSize int
}

func (o *Options) validate() error {
	switch {
	case len(o.Audiences) == 0 && !o.SkipAudienceCheck:
		return errors.New("idtoken: Options.Audiences is required (set SkipAudienceCheck to accept any audience)")
	case len(o.Audiences) > 0 && o.SkipAudienceCheck:
		return errors.New("idtoken: Options.Audiences and SkipAudienceCheck are mutually exclusive")
	case slices.Contains(o.Audiences, ""):
		return errors.New("idtoken: Options.Audiences contains an empty audience")
	case slices.Contains(o.Issuers, ""):
		return errors.New("idtoken: Options.Issuers contains an empty issuer")
	case o.KeySet != nil && o.KeysURL != "":
		return errors.New("idtoken: Options.KeySet and Options.KeysURL are mutually exclusive")
	case o.KeySet != nil && !o.KeySet.usable():
		return errors.New("idtoken: Options.KeySet is a zero KeySet; make it with NewKeySet or NewStaticKeySet")
	}
	for _, a := range o.Algorithms {
		if !slices.Contains(supportedAlgorithms, a) {
			return fmt.Errorf("idtoken: algorithm %q is not supported (want one of %s)", a, strings.Join(supportedAlgorithms, ", "))
		}
	}
	return nil
}

// Verifier checks ID tokens. It is safe for concurrent use.
type Verifier struct {
	audiences []string
	issuers   []string
	algNames  []string
	keys      *KeySet
	skew      time.Duration
	now       func() time.Time
	skipAud   bool
	skipExp   bool
	cache     *verifiedCache // nil: none
	headers   headerCache
}

// NewVerifier returns a Verifier for opts.
func NewVerifier(opts *Options) (*Verifier, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if len(o.Issuers) == 0 {
		o.Issuers = []string{GoogleIssuer, "accounts.google.com"}
	}
	if len(o.Algorithms) == 0 {
		o.Algorithms = []string{"RS256"}
	}
	if o.KeySet == nil {
		ks, err := NewKeySet(&KeySetOptions{URL: o.KeysURL})
		if err != nil {
			return nil, err
		}
		o.KeySet = ks
	}
	switch {
	case o.ClockSkew == 0:
		o.ClockSkew = DefaultClockSkew
	case o.ClockSkew < 0:
		o.ClockSkew = 0
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &Verifier{
		audiences: slices.Clone(o.Audiences),
		issuers:   slices.Clone(o.Issuers),
		algNames:  slices.Clone(o.Algorithms),
		keys:      o.KeySet,
		skew:      o.ClockSkew,
		now:       o.Now,
		skipAud:   o.SkipAudienceCheck,
		skipExp:   o.SkipExpiryCheck,
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	v.cache = newVerifiedCache(o.CacheSize)
	return v, nil
}

// NewIAPVerifier returns a Verifier for the JWTs Identity-Aware Proxy puts
// in the X-Goog-IAP-JWT-Assertion header: like NewVerifier, with defaults
// Algorithms ["ES256"], Issuers [IAPIssuer] and a KeySet over IAPKeysURL
// (the emulator's when GCPTOKEN_EMULATOR_HOST is set).
// opts.Audiences is required as usual.
func NewIAPVerifier(opts *Options) (*Verifier, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if len(o.Algorithms) == 0 {
		o.Algorithms = []string{"ES256"}
	}
	if len(o.Issuers) == 0 {
		o.Issuers = []string{IAPIssuer}
	}
	if o.KeySet == nil && o.KeysURL == "" {
		u, err := defaultKeysURL("", IAPKeysURL)
		if err != nil {
			return nil, err
		}
		ks, err := NewKeySet(&KeySetOptions{URL: u})
		if err != nil {
			return nil, err
		}
		o.KeySet = ks
	}
	return NewVerifier(&o)
}

// Verify checks token and returns its claims. Every failure is a
// *VerifyError; see its Reason constants. ctx bounds a key-set fetch.
//
// A token verified before (see Options.CacheSize) is answered from the
// cache, after checking again what can change: its key must still be in
// the key set under its kid, and its time claims must still pass. Its
// Claims are then the same value as the first time: treat Claims as
// read-only.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if v == nil || v.keys == nil {
		return nil, &VerifyError{Reason: ReasonKeySet, Err: errZeroVerifier, Message: errZeroVerifier.Error()}
	}
	if len(token) > MaxTokenSize {
		return nil, rejectf(ReasonMalformed, "token is %d bytes long; the limit is %d", len(token), MaxTokenSize)
	}
	if v.cache == nil {
		e, err := v.verify(ctx, token)
		if err != nil {
			return nil, err
		}
		return e.claims, nil
	}
	sum := tokenHash(token)
	if e := v.cache.get(&sum); e != nil {
		if c, ok := v.fromCache(ctx, e); ok {
			return c, nil
		}
		v.cache.remove(e)
	}
	e, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	e.sum = sum
	v.cache.put(e)
	return e.claims, nil
}

// fromCache returns a cached token's claims if verifying it afresh would
// accept it now: the key set still holds the same key under its kid (a
// refetch may have dropped or replaced it), and its time claims pass with
// the Verifier's clock and skew. Otherwise, including when the key set
// cannot be had, the token goes through the full verification, which
// gives the answer and the error that a first verification gives.
func (v *Verifier) fromCache(ctx context.Context, e *cacheEntry) (*Claims, bool) {
	pk, err := v.keys.lookup(ctx, e.kid)
	if err != nil || !sameKey(e.key, pk.key) || keyFits(pk, e.alg) != nil {
		return nil, false
	}
	if v.checkClaims(e.claims) != nil {
		return nil, false
	}
	return e.claims, true
}

// verify checks token in full and returns what the cache keeps of it.
func (v *Verifier) verify(ctx context.Context, token string) (*cacheEntry, error) {
	if err := checkCompact(token); err != nil {
		return nil, err
	}
	dot1, dot2 := strings.IndexByte(token, '.'), strings.LastIndexByte(token, '.')
	h, known := v.headers.get(token[:dot1])
	if !known {
		var err error
		if h, err = parseHeader(token[:dot1]); err != nil {
			return nil, err
		}
	}
	if !slices.Contains(v.algNames, h.Alg) {
		return nil, rejectf(ReasonAlgorithm, "algorithm %s is not allowed (want %s)", q(h.Alg), strings.Join(v.algNames, " or "))
	}
	payload, err := b64.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return nil, rejectf(ReasonMalformed, "not a JWT: claims segment: %v", err)
	}
	sig, err := b64.DecodeString(token[dot2+1:])
	if err != nil {
		return nil, rejectf(ReasonMalformed, "not a JWT: signature segment: %v", err)
	}
	pk, err := v.keys.lookup(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	if err := keyFits(pk, h.Alg); err != nil {
		return nil, rejectf(ReasonAlgorithm, "algorithm %s cannot be used with key %s: %v", h.Alg, q(h.Kid), err)
	}
	if err := verifySignature(h.Alg, pk.key, token[:dot2], sig); err != nil {
		if errors.Is(err, errMismatch) {
			return nil, rejectf(ReasonSignature, "signature does not verify with key %s", q(h.Kid))
		}
		return nil, rejectf(ReasonSignature, "signature does not verify with key %s: %v", q(h.Kid), err)
	}
	c, err := parseClaims(payload)
	if err != nil {
		return nil, rejectf(ReasonMalformed, "%v", err)
	}
	if err := v.checkClaims(c); err != nil {
		if err.Reason != ReasonMalformed {
			err.Claims = c
		}
		return nil, err
	}
	if !known {
		v.headers.add(token[:dot1], h)
	}
	return &cacheEntry{kid: h.Kid, alg: h.Alg, key: pk.key, claims: c}, nil
}

var b64 = base64.RawURLEncoding

var errZeroVerifier = errors.New("idtoken: a Verifier must be made with NewVerifier or NewIAPVerifier; this one is nil or a zero value")

// jwsHeader is the part of a JOSE header the verifier reads. crit and b64
// are decoded only to be refused: Google never sends them, and b64=false
// (RFC 7797) would change what the signature covers.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

func parseHeader(seg string) (h jwsHeader, err error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return h, rejectf(ReasonMalformed, "not a JWT: header segment: %v", err)
	}
	if err := json.Unmarshal(raw, &h); err != nil || len(raw) == 0 || raw[0] != '{' {
		return h, rejectf(ReasonMalformed, "not a JWT: the header is not a JSON object")
	}
	switch {
	case h.Alg == "":
		return h, rejectf(ReasonMalformed, "the header has no alg")
	case h.Crit != nil:
		return h, rejectf(ReasonMalformed, `header "crit" is not supported`)
	case h.B64 != nil:
		return h, rejectf(ReasonMalformed, `header "b64" is not supported`)
	case h.Kid == "":
		return h, rejectf(ReasonMalformed, "the header has no kid: Google-signed tokens always name their key")
	}
	return h, nil
}

// verifySignature checks a JWS signature over the exact bytes received
// (header.payload as sent, never re-encoded) with the standard library.
// go-jose is not used here: its compact parser costs about 7 µs per token
// (a quarter of an RSA-2048 verification), re-encodes the signing input,
// and parses header fields (jwk, x5c) a verifier with its own key set must
// ignore anyway. keyFits has checked that key's type matches alg.
// errMismatch is a well-formed signature that does not match.
var errMismatch = errors.New("signature mismatch")

func verifySignature(alg string, key crypto.PublicKey, input string, sig []byte) error {
	h, err := hashFor(alg)
	if err != nil {
		return err
	}
	var digest []byte
	if h != 0 {
		hh := h.New()
		hh.Write([]byte(input))
		digest = hh.Sum(nil)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(alg, "PS") {
			err = rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(k, h, digest, sig)
		}
		if err != nil {
			return errMismatch // crypto/rsa says only "verification error"
		}
		return nil
	case *ecdsa.PublicKey:
		// JWS ECDSA signatures are R||S, each exactly the curve's byte
		// size (RFC 7518 §3.4). Checking the length first is what Google's
		// Go validator misses (it slices at 32 and panics on short input).
		n := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return fmt.Errorf("ECDSA signature is %d bytes; want %d", len(sig), 2*n)
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errMismatch
		}
		return nil
	case ed25519.PublicKey:
		if !ed25519.Verify(k, []byte(input), sig) {
			return errMismatch
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", key)
}

func hashFor(alg string) (crypto.Hash, error) {
	switch alg {
	case "RS256", "PS256", "ES256":
		return crypto.SHA256, nil
	case "RS384", "PS384", "ES384":
		return crypto.SHA384, nil
	case "RS512", "PS512", "ES512":
		return crypto.SHA512, nil
	case "EdDSA":
		return 0, nil
	}
	return 0, fmt.Errorf("algorithm %q is not supported", alg)
}

// checkCompact rejects anything but three canonical base64url segments
// before any decoding. Go's base64 decoder skips CR and LF and ignores
// non-zero padding bits; without this check many strings would verify as
// the same token.
func checkCompact(token string) error {
	if token == "" {
		return rejectf(ReasonMalformed, "the token is empty")
	}
	if n := strings.Count(token, ".") + 1; n != 3 {
		return rejectf(ReasonMalformed, "not a JWT: %d dot-separated segments, want 3", n)
	}
	rest := token
	for seg := range 3 {
		s, after, _ := strings.Cut(rest, ".")
		rest = after
		for i := 0; i < len(s); i++ {
			if !isBase64URL[s[i]] {
				return rejectf(ReasonMalformed, "not a JWT: segment %d has a byte (0x%02x) outside base64url", seg+1, s[i])
			}
		}
		if err := checkSegmentEnd(s, seg); err != nil {
			return err
		}
	}
	return nil
}

// checkSegmentEnd checks a segment's length and that its unused trailing
// bits are zero (RFC 4648 §3.5 canonical encoding).
func checkSegmentEnd(s string, seg int) error {
	if s == "" {
		if seg == 2 {
			return nil // unsigned: alg "none" is rejected with its own reason
		}
		return rejectf(ReasonMalformed, "not a JWT: segment %d is empty", seg+1)
	}
	var mask int
	switch len(s) % 4 {
	case 1:
		return rejectf(ReasonMalformed, "not a JWT: segment %d has an impossible base64 length", seg+1)
	case 2:
		mask = 0x0f
	case 3:
		mask = 0x03
	}
	if b64Value(s[len(s)-1])&mask != 0 {
		return rejectf(ReasonMalformed, "not a JWT: segment %d is not canonical base64url", seg+1)
	}
	return nil
}

// isBase64URL marks the bytes of the base64url alphabet: a table lookup
// per byte is what makes the syntax check of a 1 KB token cost a few
// hundred nanoseconds. A literal, so that it costs no init work.
var isBase64URL = [256]bool{
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true, 'I': true, 'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true, 'R': true, 'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true, 'i': true, 'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true, 'r': true, 's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true, '-': true, '_': true,
}

func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}

// keyFits checks that the key's type (and the JWK's declared alg, if any)
// matches the token's alg, so a token cannot choose how its key is used.
func keyFits(pk publicKey, alg string) error {
	if pk.alg != "" && pk.alg != alg {
		return fmt.Errorf("the key is declared for %s", pk.alg)
	}
	switch k := pk.key.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS") {
			return nil
		}
		return errors.New("it is an RSA key")
	case *ecdsa.PublicKey:
		if c := curveFor(alg); c != nil && k.Curve == c {
			return nil
		}
		return fmt.Errorf("it is an ECDSA %s key", k.Curve.Params().Name)
	case ed25519.PublicKey:
		if alg == "EdDSA" {
			return nil
		}
		return errors.New("it is an Ed25519 key")
	}
	return fmt.Errorf("unsupported key type %T", pk.key)
}

// checkClaims applies the issuer, audience and time checks.
func (v *Verifier) checkClaims(c *Claims) *VerifyError {
	if !slices.Contains(v.issuers, c.Issuer) {
		if _, ok := c.Raw["iss"]; !ok {
			return rejectf(ReasonIssuer, "the token has no issuer; want one of %s", qList(v.issuers))
		}
		return rejectf(ReasonIssuer, "issuer %s is not one of %s", q(c.Issuer), qList(v.issuers))
	}
	if !v.skipAud && !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		switch len(c.Audience) {
		case 0:
			return rejectf(ReasonAudience, "the token has no audience; want one of %s", qList(v.audiences))
		case 1:
			return rejectf(ReasonAudience, "audience %s is not one of %s", q(c.Audience[0]), qList(v.audiences))
		default:
			return rejectf(ReasonAudience, "none of the audiences %s is one of %s", qList(c.Audience), qList(v.audiences))
		}
	}
	now := v.now()
	if !v.skipExp {
		if c.Expiry.IsZero() {
			return rejectf(ReasonMalformed, "the token has no exp claim")
		}
		if !now.Before(c.Expiry.Add(v.skew)) {
			return rejectf(ReasonExpired, "the token expired at %s, %s ago", c.Expiry.UTC().Format(time.RFC3339), now.Sub(c.Expiry).Round(time.Second))
		}
	}
	if c.IssuedAt.IsZero() {
		return rejectf(ReasonMalformed, "the token has no iat claim")
	}
	if c.IssuedAt.After(now.Add(v.skew)) {
		return rejectf(ReasonNotYetValid, "the token is issued at %s, %s in the future", c.IssuedAt.UTC().Format(time.RFC3339), c.IssuedAt.Sub(now).Round(time.Second))
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(now.Add(v.skew)) {
		return rejectf(ReasonNotYetValid, "the token is not valid before %s, %s from now", c.NotBefore.UTC().Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second))
	}
	return nil
}
