package credentials

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"

	"github.com/gcptoken/gcptoken"
)

// Cache keys. Identity names a credential for a cache; for most types it is
// fixed when the file is loaded. Federated credentials (external_account)
// are the exception: who their tokens are for is decided by the subject
// token read at exchange time — the Kubernetes service-account token in a
// file, the response of a URL, an executable's output, the instance's AWS
// role — and two workloads sharing one configuration file, or one file
// whose token was replaced by another principal's, must never share a
// cached token. Snapshot reads that subject once and returns credentials
// bound to it, whose Identity includes its fingerprint.

// Snapshot returns credentials whose tokens are all for the principal c
// stands for right now, and whose Identity names that principal: key caches
// by the snapshot's Identity, and fetch on a miss from the snapshot's
// providers.
//
// For external_account credentials (also under impersonation or
// downscoping) Snapshot reads the subject token once — from the file, the
// URL or the executable (or its output_file) — or, for AWS, the role's
// credentials; the snapshot's providers exchange exactly that subject token,
// never a second read that could differ, and its Identity ends with a
// fingerprint of it (an HMAC with a fixed label, never the token itself).
// A subject token that cannot be read is an error, as it would be from the
// token providers: a cache must not serve the previous holder's token then.
// A snapshot's subject token may expire (Kubernetes rotates them hourly), so
// take a new snapshot for each use, as a command does per run.
//
// Every other credential's identity is fixed at load: Snapshot returns c.
func (c *Credentials) Snapshot(ctx context.Context) (*Credentials, error) {
	if c.impl == nil {
		return nil, errNotLoaded
	}
	impl, err := c.impl.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if impl == c.impl {
		return c, nil
	}
	out := *c
	out.impl, out.memo = impl, newTokenMemo()
	out.Steps = slices.Clone(c.Steps)
	return &out, nil
}

// RootIdentity returns the Identity of the credential at the root of c's
// chain: the source of impersonation and of downscoping (all the way down),
// else c's own. Every token c makes was minted with that credential's
// secret, so revoking it (`gcptoken logout`) makes all of them worthless; a
// cache records RootIdentity to find and drop them. It contains no secret.
func (c *Credentials) RootIdentity() string {
	switch impl := c.impl.(type) {
	case *impersonated:
		return impl.source.RootIdentity()
	case *downscoped:
		return impl.source.RootIdentity()
	}
	return c.Identity()
}

// Types whose identity is fixed at load are their own snapshot.

func (sa *serviceAccount) snapshot(context.Context) (credential, error)     { return sa, nil }
func (au *authorizedUser) snapshot(context.Context) (credential, error)     { return au, nil }
func (m *metadataServer) snapshot(context.Context) (credential, error)      { return m, nil }
func (u *externalAccountUser) snapshot(context.Context) (credential, error) { return u, nil }

// snapshot binds the source to its principal; the copy shares nothing
// mutable with imp, and gets its own cache of the source's token, since
// that token is the pinned source's.
func (imp *impersonated) snapshot(ctx context.Context) (credential, error) {
	src, tp, err := snapshotSource(ctx, imp.source)
	if err != nil || src == imp.source {
		return imp, err
	}
	out := *imp
	out.source, out.sourceTP = src, tp
	return &out, nil
}

func (d *downscoped) snapshot(ctx context.Context) (credential, error) {
	src, tp, err := snapshotSource(ctx, d.source)
	if err != nil || src == d.source {
		return d, err
	}
	out := *d
	out.source, out.sourceTP = src, tp
	return &out, nil
}

// snapshotSource snapshots the source of impersonation or downscoping and,
// when that changed it, makes the cached cloud-platform provider those
// types authenticate with.
func snapshotSource(ctx context.Context, source *Credentials) (*Credentials, gcptoken.TokenProvider, error) {
	src, err := source.Snapshot(ctx)
	if err != nil || src == source {
		return source, nil, err
	}
	tp, err := src.AccessTokenProvider([]string{ScopeCloudPlatform})
	if err != nil {
		return nil, nil, err
	}
	return src, tp, nil
}

// snapshot reads the subject once and returns a copy of ea that exchanges
// it.
func (ea *externalAccount) snapshot(ctx context.Context) (credential, error) {
	src, err := ea.src.pin(ctx)
	if err != nil {
		return nil, ea.subjectError(ctx, err)
	}
	out := *ea
	out.src = src
	return &out, nil
}

// pinnedSubject is a file, URL or executable source after one read: it
// returns that subject token on every call.
type pinnedSubject struct {
	credentialSource
	token string
}

// pinSubject reads src's subject token once.
func pinSubject(ctx context.Context, src credentialSource) (credentialSource, error) {
	tok, err := src.subjectToken(ctx)
	if err != nil {
		return nil, err
	}
	return &pinnedSubject{credentialSource: src, token: tok}, nil
}

func (p *pinnedSubject) subjectToken(context.Context) (string, error)  { return p.token, nil }
func (p *pinnedSubject) pin(context.Context) (credentialSource, error) { return p, nil }
func (p *pinnedSubject) identity() string {
	return p.credentialSource.identity() + "#subject:" + fingerprint("external_account subject token", p.token)
}

// fingerprintLabel keys fingerprint's HMAC. It is public: it separates the
// digests from any other hash of the same values, it does not hide them.
const fingerprintLabel = "gcptoken/credentials/identity-fingerprint/v1"

// fingerprint returns a one-way digest of secret values for an Identity:
// HMAC-SHA256 keyed with a fixed label and the purpose, over the
// length-prefixed values.
//
// Not a plain SHA-256: that of a token is a value other systems compute
// too — OpenID Connect's at_hash is half of it, and token stores and audit
// logs keep it to name a token without storing it — so it would link a
// cache file name to those records. The label makes this a digest nothing
// else computes. It adds no secrecy: whoever holds a token can still check
// it against a fingerprint, and a low-entropy value could be guessed, so
// only high-entropy credentials (refresh tokens, signed subject tokens, AWS
// session tokens) are fingerprinted.
func fingerprint(purpose string, values ...string) string {
	m := hmac.New(sha256.New, []byte(fingerprintLabel+"/"+purpose))
	var n [8]byte
	for _, v := range values {
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		m.Write(n[:])
		m.Write([]byte(v))
	}
	return hex.EncodeToString(m.Sum(nil))
}
