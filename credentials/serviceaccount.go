package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/credsfile"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// serviceAccount mints tokens with the JWT-bearer grant: it signs an
// assertion with the key and posts it to the token endpoint. In a universe other
// than googleapis.com there is no token endpoint for keys: access tokens
// are self-signed JWTs and ID tokens come from IAM Credentials (see
// universe.go).
type serviceAccount struct {
	email string
	keyID string
	// key parses the private key on first use (sync.OnceValues): a
	// cached token needs none, and parsing, with the arithmetic checks
	// crypto/rsa makes, is the costliest step of loading a key file.
	// newServiceAccount has checked the key's structure.
	key func() (*rsa.PrivateKey, error)
	tokenEndpoint
	// universe is the key's universe domain, never "".
	universe string
	// idTokenURL is generateIdToken of the account itself, where its ID
	// tokens come from outside googleapis.com; "" in googleapis.com.
	idTokenURL string
	// subject is the user to act as (domain-wide delegation), set by
	// WithSubject; "" for the service account itself.
	subject string
}

func newServiceAccount(f *credsfile.File, s *settings) (*Credentials, error) {
	var sa credsfile.ServiceAccount
	if err := f.Decode(&sa); err != nil {
		return nil, err
	}
	if sa.ClientEmail == "" {
		return nil, missing("client_email", sa.Type)
	}
	if sa.PrivateKey == "" {
		return nil, missing("private_key", sa.Type)
	}
	// Check now, so that a broken key fails at load with the file's name
	// rather than at the first token request.
	pemKey := []byte(sa.PrivateKey)
	if err := checkRSAKey(pemKey); err != nil {
		return nil, &credsfile.FieldError{Field: "private_key", Err: err}
	}
	key := sync.OnceValues(func() (*rsa.PrivateKey, error) { return parseRSAKey(pemKey) })
	u, err := tokenURL(s, sa.TokenURI, sa.UniverseDomain)
	if err != nil {
		return nil, err
	}
	universe, idTokenURL := universeOf(sa.UniverseDomain), ""
	if !isDefaultUniverse(universe) {
		base, err := s.ends.URL(endpoints.EnvIAMEndpoint, defaultIAMEndpoint(universe))
		if err != nil {
			return nil, err
		}
		idTokenURL = strings.TrimRight(base, "/") + "/v1/projects/-/serviceAccounts/" + url.PathEscape(sa.ClientEmail) + iamIDTokenOp
	}
	return &Credentials{
		Type:           TypeServiceAccount,
		Principal:      sa.ClientEmail,
		ClientID:       sa.ClientID,
		ProjectID:      sa.ProjectID,
		QuotaProjectID: sa.QuotaProjectID,
		UniverseDomain: sa.UniverseDomain,
		impl: &serviceAccount{
			email:         sa.ClientEmail,
			keyID:         sa.PrivateKeyID,
			key:           key,
			tokenEndpoint: tokenEndpoint{tokenURL: u, client: s.client},
			universe:      universe,
			idTokenURL:    idTokenURL,
		},
	}, nil
}

// checkRSAKey returns the error parseRSAKey would, without its cost where
// it can: a PEM block whose DER has the structure of an unencrypted RSA
// private key passes on a look at that structure; anything else is parsed
// in full, for parseRSAKey's precise error. What only the full parse can
// find (a modulus that is not the product of the primes) fails at the
// first signature instead.
func checkRSAKey(pemBytes []byte) error {
	if block, _ := pem.Decode(pemBytes); block != nil && wellFormedRSAKey(block) {
		return nil
	}
	_, err := parseRSAKey(pemBytes)
	return err
}

// pkcs8Envelope and pkcs1Key are the ASN.1 structures of PKCS#8 (RFC
// 5208) and PKCS#1 (RFC 8017) private keys, as crypto/x509 reads them;
// it does not export them.
type pkcs8Envelope struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

type pkcs1Key struct {
	Version               int
	N                     *big.Int
	E                     int
	D, P, Q, Dp, Dq, Qinv *big.Int
}

// oidRSAEncryption is PKCS#8's algorithm for RSA keys (RFC 8017 A.1).
var oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}

// wellFormedRSAKey reports whether block is an unencrypted two-prime RSA
// private key in PKCS#8 or PKCS#1, with nothing left over, judging by its
// ASN.1 structure alone. It is strict: whatever it refuses, parseRSAKey
// judges.
func wellFormedRSAKey(block *pem.Block) bool {
	if len(block.Headers) > 0 { // Proc-Type: an encrypted key
		return false
	}
	der := block.Bytes
	switch block.Type {
	case "PRIVATE KEY":
		var env pkcs8Envelope
		if rest, err := asn1.Unmarshal(der, &env); err != nil || len(rest) > 0 ||
			env.Version != 0 || !env.Algo.Algorithm.Equal(oidRSAEncryption) {
			return false
		}
		der = env.PrivateKey
	case "RSA PRIVATE KEY":
	default:
		return false
	}
	var k pkcs1Key
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) > 0 || k.Version != 0 || k.E < 3 {
		return false
	}
	for _, n := range []*big.Int{k.N, k.D, k.P, k.Q, k.Dp, k.Dq, k.Qinv} {
		if n.Sign() <= 0 {
			return false
		}
	}
	return true
}

// parseRSAKey accepts an unencrypted PEM RSA key, PKCS#8 or PKCS#1: the
// JWT-bearer grant is signed RS256. Its errors never quote the key.
func parseRSAKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New(`not a PEM key (want a PEM block of type "PRIVATE KEY" or "RSA PRIVATE KEY")`)
	}
	if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // detecting, not decrypting
		return nil, errors.New("is encrypted; service-account keys must not be")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return nil, errors.New("is an EC key; service-account keys must be RSA")
	default:
		return nil, fmt.Errorf("is a PEM %q block; want PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
	if err != nil {
		// asn1's messages dump parser state; x509's own are readable.
		if msg := err.Error(); strings.HasPrefix(msg, "x509: ") {
			return nil, fmt.Errorf("cannot parse the %s block: %s", block.Type, msg)
		}
		return nil, fmt.Errorf("cannot parse the %s block: malformed key data", block.Type)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return nil, errors.New("is an EC key; service-account keys must be RSA")
	case ed25519.PrivateKey:
		return nil, errors.New("is an Ed25519 key; service-account keys must be RSA")
	}
	return nil, fmt.Errorf("is a %T; service-account keys must be RSA", key)
}

// assertionSkew dates assertions back, as Google's Go library does, so
// that a clock slightly ahead of Google's does not make them "issued in
// the future".
const assertionSkew = 10 * time.Second

// assertion signs the JWT-bearer grant's assertion: for an access token
// with scope, or for an ID token with target_audience. Its aud is the token
// endpoint, as in Google's Go library.
func (sa *serviceAccount) assertion(scope, targetAudience string) (string, error) {
	claims := newClaims(sa.email, sa.subject, sa.tokenURL, scope, time.Now().Add(-assertionSkew))
	claims.TargetAudience = targetAudience
	jwt, err := sa.sign(claims)
	if err != nil {
		return "", fmt.Errorf("credentials: sign the assertion: %w", err)
	}
	return jwt, nil
}

func (sa *serviceAccount) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	if !isDefaultUniverse(sa.universe) {
		if sa.subject != "" {
			return nil, errUniverseDWD
		}
		return sa.selfSigned("", scopes), nil
	}
	scope := strings.Join(scopes, " ")
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		assertion, err := sa.assertion(scope, "")
		if err != nil {
			return nil, err
		}
		return sa.assertionToken(ctx, opAccessToken, assertion, expiryRule{})
	}), nil
}

// idTokenProvider ignores the format options: only the metadata server can
// add Compute Engine claims.
func (sa *serviceAccount) idTokenProvider(audience string, _ IDTokenOptions) (gcptoken.TokenProvider, error) {
	if sa.subject != "" {
		return nil, errSubjectIDToken
	}
	if !isDefaultUniverse(sa.universe) {
		return sa.iamIDTokens(audience), nil
	}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		// No scope: the assertion carries target_audience instead, and the
		// endpoint answers with only an id_token.
		assertion, err := sa.assertion("", audience)
		if err != nil {
			return nil, err
		}
		a, err := sa.jwtBearer(ctx, opIDToken, assertion)
		if err != nil {
			return nil, err
		}
		return sa.reply(opIDToken).idTokenOf(a)
	}), nil
}

// identity is the type, the service account and the key id: two keys of one
// service account are different credentials (one may be revoked). A
// domain-wide-delegation subject is appended: its tokens are the user's.
func (sa *serviceAccount) identity() string {
	return TypeServiceAccount + "|" + sa.email + "|" + sa.keyID + subjectIdentity(sa.subject)
}

// iamIDTokens gets ID tokens for audience from generateIdToken of the
// account itself, authenticated with a self-signed JWT for the iam scope,
// as google-auth's IDTokenCredentials do outside googleapis.com
// (_refresh_with_iam_endpoint). includeEmail and useEmailAzp give the
// token the email and azp the token endpoint's would carry.
// (cloud.google.com/go/auth sends the same call without credentials unless
// its caller passes an authenticated client.)
func (sa *serviceAccount) iamIDTokens(audience string) gcptoken.TokenProvider {
	bearer := sa.selfSigned("", []string{scopeIAM})
	req := struct {
		Audience     string `json:"audience"`
		IncludeEmail bool   `json:"includeEmail"`
		UseEmailAzp  bool   `json:"useEmailAzp"`
	}{audience, true, true}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		jwt, err := bearer.Token(ctx)
		if err != nil {
			return nil, err
		}
		body, err := iamPost(ctx, sa.client, opIDToken, sa.idTokenURL, jwt, req)
		if err != nil {
			if ge := (*gcptoken.Error)(nil); errors.As(err, &ge) && ge.StatusCode == http.StatusForbidden {
				// A refusal, as impersonation's are: retrying cannot help.
				return nil, invalid("credentials", fmt.Errorf("%w (outside %s a key's ID tokens come from generateIdToken on "+
					"the account itself: grant %s roles/iam.serviceAccountTokenCreator on itself)", err, DefaultUniverseDomain, sa.email))
			}
			return nil, err
		}
		return tokenReply{opIDToken, sa.idTokenURL}.iamIDToken(body)
	})
}

// tokenEndpoints: outside googleapis.com the token endpoint is never used.
func (sa *serviceAccount) tokenEndpoints() []string {
	if !isDefaultUniverse(sa.universe) {
		return []string{sa.idTokenURL}
	}
	return []string{sa.tokenURL}
}
