package diskcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"

	"github.com/gcptoken/gcptoken"
)

// KeyParts is everything that decides which cached token is the right one.
// None of it may be secret: it is hashed into a file name, but a hash of a
// low-entropy secret is still a leak.
type KeyParts struct {
	// Identity names the credential without revealing it, e.g. the
	// credential type plus email or client ID plus key ID, or a one-way
	// fingerprint. The credentials package produces it. Required.
	Identity string
	// Kind is the token kind; access and ID tokens never share an entry.
	Kind gcptoken.Kind
	// Scopes are the requested scopes. Order does not matter.
	Scopes []string
	// Audience is the requested ID token audience, if any.
	Audience string
	// Endpoints are the token endpoint URLs and similar. Order matters,
	// because callers list them in a fixed role order.
	Endpoints []string
	// Extra holds future inputs such as an impersonation chain or a subject.
	// Order matters.
	Extra []string
	// Owner names the credential whose secret minted the token, the root
	// of an impersonation or downscoping chain (credentials.RootIdentity):
	// entries record a digest of it, and ForgetOwner removes every token it
	// minted when it is revoked. Optional; default Identity. Not part of
	// the key: Identity already decides it.
	Owner string
	// Principal is whom the token is for (an email, a federated
	// principal), recorded in the clear for List and ForgetPrincipal:
	// `gcptoken status` shows it and `gcptoken cache clear PRINCIPAL`
	// drops its tokens. Optional. Not part of the key, and not secret.
	Principal string
}

func (p *KeyParts) validate() error {
	switch {
	case p.Identity == "":
		return errors.New("no identity in the key")
	case !knownKind(p.Kind):
		return fmt.Errorf("unknown token kind %q", p.Kind)
	}
	return nil
}

func (p *KeyParts) owner() string {
	if p.Owner != "" {
		return p.Owner
	}
	return p.Identity
}

func knownKind(k gcptoken.Kind) bool {
	return k == gcptoken.AccessToken || k == gcptoken.IDToken
}

// keyDomain separates this hash from any other SHA-256 the program computes
// and lets a future encoding change every key at once.
const keyDomain = "gcptoken/diskcache/key/v1"

// Labels of the digests entries record.
const (
	identityLabel = "gcptoken/diskcache/identity/v1"
	ownerLabel    = "gcptoken/diskcache/owner/v1"
)

// digest is a domain-separated SHA-256 of s, in hex: entries record digests
// of identities, which hold account names and file paths, rather than the
// names themselves.
func digest(label, s string) string {
	h := sha256.New()
	writeString(h, label)
	writeString(h, s)
	return hex.EncodeToString(h.Sum(nil))
}

// keyLen is the length of a key made by Key: hex SHA-256.
const keyLen = 2 * sha256.Size

// Key returns the cache key for p: a lowercase hex SHA-256, usable as a file
// name. Every field is length-prefixed and every list is count-prefixed, so
// no two different KeyParts encode to the same bytes (Scopes{"a b"} and
// Scopes{"a", "b"} differ, as do Audience "x" with no endpoints and
// Endpoints{"x"}).
func Key(p KeyParts) string {
	h := sha256.New()
	writeString(h, keyDomain)
	writeString(h, p.Identity)
	writeString(h, string(p.Kind))
	scopes := slices.Clone(p.Scopes)
	slices.Sort(scopes)
	writeList(h, scopes)
	writeString(h, p.Audience)
	writeList(h, p.Endpoints)
	writeList(h, p.Extra)
	return hex.EncodeToString(h.Sum(nil))
}

func writeString(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

func writeList(h hash.Hash, l []string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(l)))
	h.Write(n[:])
	for _, s := range l {
		writeString(h, s)
	}
}

// validKey reports whether key has the shape Key produces. Keys become file
// names, so anything else (a path separator, "..") is refused rather than
// sanitised.
func validKey(key string) bool {
	if len(key) != keyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
