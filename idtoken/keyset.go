package idtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// Google's key endpoints.
const (
	// GoogleKeysURL is the JWKS of the keys that sign Google ID tokens
	// (RS256).
	GoogleKeysURL = "https://www.googleapis.com/oauth2/v3/certs"
	// IAPKeysURL is the JWKS of the keys that sign Identity-Aware Proxy
	// assertions (ES256).
	IAPKeysURL = "https://www.gstatic.com/iap/verify/public_key-jwk"
)

// DefaultMinRefreshInterval is the default KeySetOptions.MinRefreshInterval.
// Thirty seconds bounds what a stream of tokens with made-up kids can cost
// (two fetches a minute) while a real key rotation, or an endpoint that
// failed once, is picked up within half a minute.
const DefaultMinRefreshInterval = 30 * time.Second

const (
	// maxJWKSBody caps the key-set response; Google's is about 2 KiB.
	maxJWKSBody = 1 << 20
	// fetchTimeout bounds one fetch when the HTTP client has no timeout.
	// Fetches are shared by every waiting caller, so they are detached from
	// any one caller's context and need their own bound.
	fetchTimeout = 30 * time.Second
	// maxCacheLifetime caps max-age (Google sends about 6 hours), so a
	// wrong header cannot pin a key set for months (or overflow a Duration).
	maxCacheLifetime = 24 * time.Hour
	// fetchOp names the operation in errors.
	fetchOp = "fetch ID-token signing keys"
)

// KeySetOptions configures a KeySet fetched over HTTP. The zero value (or
// nil) means Google's ID-token keys.
type KeySetOptions struct {
	// URL is the JWKS endpoint. Optional; default $GCPTOKEN_CERTS_URL,
	// else the emulator's when GCPTOKEN_EMULATOR_HOST is set, else
	// GoogleKeysURL (use IAPKeysURL for IAP assertions).
	URL string
	// HTTPClient makes the requests. Optional; default a client with a 30s
	// timeout.
	HTTPClient *http.Client
	// MinRefreshInterval is the shortest time between two fetches. A token
	// with an unknown kid triggers a refetch only if the last fetch is at
	// least this old; the same bound applies after a failed fetch and when
	// Cache-Control allows no caching. Optional; default
	// DefaultMinRefreshInterval (30s). Negative means no limit (tests).
	MinRefreshInterval time.Duration
	// Now is the clock for cache expiry and the rate limit. Optional;
	// default time.Now.
	Now func() time.Time
}

func (o *KeySetOptions) validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("idtoken: key set URL %q is not an absolute http(s) URL", o.URL)
	}
	return nil
}

// KeySet is a set of public keys by key id: either Google's published keys,
// fetched from a JWKS URL and cached, or a fixed set (NewStaticKeySet).
//
// A fetched set is kept for the response's Cache-Control max-age minus its
// Age header, like Google's own clients. A kid missing from the set causes
// one refetch, rate-limited by MinRefreshInterval, because Google adds keys
// before it signs with them. Concurrent callers that need a fetch share one
// request. When a refetch fails the keys already known stay in use, so a
// brief outage of the key endpoint does not reject valid tokens.
//
// A KeySet is safe for concurrent use and should be shared: it is the
// cache.
type KeySet struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time
	static     bool

	state atomic.Pointer[keyState]

	mu       sync.Mutex
	inflight *fetchCall
}

// keyState is one immutable snapshot of the set; a fetch replaces it.
type keyState struct {
	keys      map[string]publicKey
	expires   time.Time // keys are fresh before then
	attempted time.Time // start of the last fetch, successful or not
	err       error     // why the last fetch failed; nil if it succeeded
}

// publicKey is a key with the alg its JWK declared ("" if none).
type publicKey struct {
	key crypto.PublicKey
	alg string
}

type fetchCall struct {
	done  chan struct{}
	state *keyState
}

// NewKeySet returns a key set fetched from opts.URL (default GoogleKeysURL).
// Nothing is fetched until the first Key call.
func NewKeySet(opts *KeySetOptions) (*KeySet, error) {
	var o KeySetOptions
	if opts != nil {
		o = *opts
	}
	if o.URL == "" {
		u, err := defaultKeysURL(endpoints.EnvCertsURL, GoogleKeysURL)
		if err != nil {
			return nil, err
		}
		o.URL = u
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: fetchTimeout}
	}
	if o.MinRefreshInterval == 0 {
		o.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &KeySet{url: o.URL, client: o.HTTPClient, minRefresh: o.MinRefreshInterval, now: o.Now}, nil
}

// defaultKeysURL is where the environment (GCPTOKEN_EMULATOR_HOST, or the
// variable override) sends requests for def.
func defaultKeysURL(override, def string) (string, error) {
	env, err := endpoints.FromEnv(nil)
	if err != nil {
		return "", fmt.Errorf("idtoken: %w", err)
	}
	u, err := env.URL(override, def)
	if err != nil {
		return "", fmt.Errorf("idtoken: %w", err)
	}
	return u, nil
}

// NewStaticKeySet returns a key set that never changes and never fetches:
// for tests, for keys distributed out of band, and for fakegoogle, which
// verifies tokens signed by its own keys. Keys must be *rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey; symmetric keys are refused.
func NewStaticKeySet(keys map[string]crypto.PublicKey) (*KeySet, error) {
	if len(keys) == 0 {
		return nil, errors.New("idtoken: static key set has no keys")
	}
	m := make(map[string]publicKey, len(keys))
	for kid, k := range keys {
		if kid == "" {
			return nil, errors.New("idtoken: static key set has a key with an empty kid")
		}
		if err := checkPublicKey(k); err != nil {
			return nil, fmt.Errorf("idtoken: static key %q: %w", kid, err)
		}
		m[kid] = publicKey{key: k}
	}
	ks := &KeySet{url: "(static key set)", static: true, now: time.Now}
	ks.state.Store(&keyState{keys: m})
	return ks, nil
}

func checkPublicKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.BitLen() < 1024 {
			return errors.New("RSA key is missing or shorter than 1024 bits")
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("ECDSA key is missing")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("Ed25519 key has the wrong size")
		}
	default:
		return fmt.Errorf("unsupported key type %T (want *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey)", k)
	}
	return nil
}

// usable reports whether k came from NewKeySet or NewStaticKeySet.
func (k *KeySet) usable() bool { return k != nil && (k.static || k.client != nil) }

// errZeroKeySet is what a KeySet literal answers.
var errZeroKeySet = errors.New("idtoken: a KeySet must be made with NewKeySet or NewStaticKeySet; this one is nil or a zero value")

// URL returns the JWKS URL the set is fetched from, or "(static key set)".
func (k *KeySet) URL() string {
	if k == nil {
		return ""
	}
	return k.url
}

// Key returns the public key with id kid, fetching the set if it is not
// cached or is stale, and refetching once (rate-limited) if kid is unknown.
// Errors are *VerifyError with Reason ReasonUnknownKey or ReasonKeySet.
func (k *KeySet) Key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	pk, err := k.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	return pk.key, nil
}

func (k *KeySet) lookup(ctx context.Context, kid string) (publicKey, error) {
	if !k.usable() {
		// Without this, the fetch goroutine would dereference a nil client.
		return publicKey{}, &VerifyError{Reason: ReasonKeySet, Err: errZeroKeySet, Message: errZeroKeySet.Error()}
	}
	st := k.state.Load()
	if st != nil {
		if pk, ok := st.keys[kid]; ok && (k.static || k.now().Before(st.expires)) {
			return pk, nil
		}
	}
	if k.static {
		return publicKey{}, rejectf(ReasonUnknownKey, "signing key %s is not in the static key set", q(kid))
	}
	st, err := k.refresh(ctx)
	if err != nil {
		return publicKey{}, &VerifyError{Reason: ReasonKeySet, Err: err,
			Message: fmt.Sprintf("waiting for the signing keys from %s: %v", k.url, err)}
	}
	if pk, ok := st.keys[kid]; ok {
		return pk, nil // possibly stale, when the last refetch failed
	}
	if st.err != nil {
		return publicKey{}, &VerifyError{Reason: ReasonKeySet, Err: st.err,
			Message: fmt.Sprintf("cannot get the signing keys: %v", st.err)}
	}
	return publicKey{}, rejectf(ReasonUnknownKey, "signing key %s is not in the key set at %s", q(kid), k.url)
}

// refresh fetches the set unless a fetch started less than minRefresh ago,
// joining a fetch already in flight, and returns the newest state. Only
// ctx's cancellation ends the wait; the fetch itself carries on for the
// other callers.
func (k *KeySet) refresh(ctx context.Context) (*keyState, error) {
	k.mu.Lock()
	call := k.inflight
	if call == nil {
		st := k.state.Load()
		if st != nil && k.minRefresh > 0 && k.now().Sub(st.attempted) < k.minRefresh {
			k.mu.Unlock()
			return st, nil
		}
		call = &fetchCall{done: make(chan struct{})}
		k.inflight = call
		go k.fetch(context.WithoutCancel(ctx), call, st)
	}
	k.mu.Unlock()
	select {
	case <-call.done:
		return call.state, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (k *KeySet) fetch(ctx context.Context, call *fetchCall, prev *keyState) {
	next := &keyState{attempted: k.now()}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, maxAge, err := k.download(ctx)
	if err != nil {
		next.err = err
		if prev != nil {
			next.keys, next.expires = prev.keys, prev.expires
		}
	} else {
		next.keys, next.expires = keys, next.attempted.Add(maxAge)
	}
	k.mu.Lock()
	k.state.Store(next)
	k.inflight = nil
	k.mu.Unlock()
	call.state = next
	close(call.done)
}

func (k *KeySet) download(ctx context.Context) (map[string]publicKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%s from %s: %w", fetchOp, k.url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the gcptoken.Error already
		}
		return nil, 0, gcptoken.NewTransportError(fetchOp, k.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, 0, gcptoken.NewTransportError(fetchOp, k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, gcptoken.NewResponseError(fetchOp, k.url, resp.StatusCode, body)
	}
	if len(body) > maxJWKSBody {
		return nil, 0, fmt.Errorf("%s from %s: response is larger than %d bytes", fetchOp, k.url, maxJWKSBody)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("%s from %s: %w", fetchOp, k.url, err)
	}
	return keys, cacheLifetime(resp.Header), nil
}

// parseJWKS reads the signature keys of a JWKS. Keys this package cannot
// use (other key types, "use":"enc", no kid) are skipped, so one odd entry
// does not disable the rest; symmetric ("oct") keys are always skipped, so
// a JWKS can never turn a public verifier into an HMAC one.
func parseJWKS(body []byte) (map[string]publicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("response is not a JWKS: %v", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`response is not a JWKS: no "keys" list`)
	}
	keys := make(map[string]publicKey, len(doc.Keys))
	var skipped []string
	for i, raw := range doc.Keys {
		var meta struct{ Kty, Kid, Use, Alg string }
		if err := json.Unmarshal(raw, &meta); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		switch {
		case meta.Kty != "RSA" && meta.Kty != "EC" && meta.Kty != "OKP":
			skipped = append(skipped, fmt.Sprintf("key %d: kty %q", i, meta.Kty))
			continue
		case meta.Use != "" && meta.Use != "sig":
			skipped = append(skipped, fmt.Sprintf("key %d: use %q", i, meta.Use))
			continue
		case meta.Kid == "":
			skipped = append(skipped, fmt.Sprintf("key %d: no kid", i))
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %q: %v", meta.Kid, err))
			continue
		}
		pub := jwk.Public().Key
		if err := checkPublicKey(pub); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %q: %v", meta.Kid, err))
			continue
		}
		if _, dup := keys[meta.Kid]; !dup {
			keys[meta.Kid] = publicKey{key: pub, alg: meta.Alg}
		}
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("JWKS has no usable signature key (%s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("JWKS has no keys")
	}
	return keys, nil
}

// cacheLifetime is Cache-Control max-age minus Age, the rule Google's
// clients apply; no max-age (or no-store/no-cache) means no caching.
func cacheLifetime(h http.Header) time.Duration {
	maxAge := -1
	for _, cc := range h.Values("Cache-Control") {
		for _, d := range strings.Split(cc, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			switch {
			case d == "no-store" || d == "no-cache":
				return 0
			case strings.HasPrefix(d, "max-age="):
				n, err := strconv.Atoi(strings.Trim(d[len("max-age="):], `"`))
				if err != nil || n < 0 {
					return 0
				}
				n = min(n, int(maxCacheLifetime/time.Second))
				maxAge = n
			}
		}
	}
	if maxAge <= 0 {
		return 0
	}
	if age, err := strconv.Atoi(strings.TrimSpace(h.Get("Age"))); err == nil && age > 0 {
		maxAge -= age
	}
	if maxAge <= 0 {
		return 0
	}
	return min(time.Duration(maxAge)*time.Second, maxCacheLifetime)
}

// curveFor returns the curve an ES* algorithm needs.
func curveFor(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}
