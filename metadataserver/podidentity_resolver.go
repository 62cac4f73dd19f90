package metadataserver

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/promtext"
)

// Identities decided per request. PodIdentityOptions.Identities fixes the
// map from Kubernetes to Google service accounts at start; a Resolver
// decides it when a pod asks, from what the cluster says now (a
// ServiceAccount's iam.gke.io/gcp-service-account annotation, say), and
// each identity's Server, with its token cache, is built on first use and
// kept while it is among the MaxIdentities most recently used.

// IdentityResolver decides which Google identity a pod acts as. It is
// called on every request (after PodLookup) and must answer from memory
// and be safe for concurrent use.
type IdentityResolver interface {
	// Identity returns pod's identity, or an error wrapping ErrNoIdentity
	// when the pod may have none (403, with the error's text), or another
	// error when it cannot tell now (503).
	Identity(ctx context.Context, pod Pod) (Identity, error)
}

// ErrNoIdentity is returned (wrapped) by an IdentityResolver for a pod that
// has no Google identity.
var ErrNoIdentity = errors.New("the pod has no Google identity")

// Identity is a Google identity that pods act as.
type Identity struct {
	// Key names the identity: pods whose identities have equal keys share
	// one Server, and its token cache. It must differ whenever Email or
	// the Source that NewSource would make differs (include what the
	// identity was derived from: an annotation's value, a UID).
	// Required.
	Key string
	// Email is the default account's email: a service account's, or for
	// an identity that is a federated principal, the workload pool's name
	// (as GKE serves PROJECT_ID.svc.id.goog). Required.
	Email string
	// NewSource makes the identity's Source. It is called once per Key,
	// when the first request of the identity arrives, and must not do
	// I/O. Required.
	NewSource func() (Source, error)
}

// defaultMaxIdentities is PodIdentityOptions.MaxIdentities' default.
const defaultMaxIdentities = 1000

// identityServers are the Servers of resolved identities, the least
// recently used dropped beyond max.
type identityServers struct {
	template Options
	m        *metrics
	max      int
	kept     promtext.Gauge // how many identities have a Server

	mu    sync.Mutex
	byKey map[string]*list.Element // of *identityServer
	lru   list.List                // front: most recently used
}

type identityServer struct {
	key string
	srv *Server
}

// get returns id's Server, building it on first use.
func (c *identityServers) get(id Identity) (*Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[id.Key]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*identityServer).srv, nil
	}
	if id.Key == "" || id.NewSource == nil {
		return nil, fmt.Errorf("identity %q: Key and NewSource are required", id.Email)
	}
	src, err := id.NewSource()
	if err != nil {
		return nil, fmt.Errorf("token source for %s: %w", id.Email, err)
	}
	o := c.template
	o.Source, o.ServiceAccountEmail = src, id.Email
	s, err := New(&o) // no I/O: cheap enough to build under the lock
	if err != nil {
		return nil, err
	}
	s.m = c.m // one registry for the node, as for fixed identities
	c.byKey[id.Key] = c.lru.PushFront(&identityServer{id.Key, s})
	for c.lru.Len() > c.max {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.byKey, last.Value.(*identityServer).key)
	}
	c.kept.Set(float64(c.lru.Len()))
	return s, nil
}

// len returns how many identities have a Server.
func (c *identityServers) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// newResolvedIdentities sets p up for opts.Resolver: no identity is known
// yet, so /healthz, /metrics and refusals are served by a Server whose
// Source makes no tokens (it is never asked for any).
func (p *PodIdentityServer) newResolvedIdentities(opts *PodIdentityOptions) error {
	p.resolver = opts.Resolver
	max := opts.MaxIdentities
	if max == 0 {
		max = defaultMaxIdentities
	}
	kept := p.m.reg.NewGaugeVec("gcptoken_metadataserver_identities",
		"Resolved identities whose token cache is kept (at most MaxIdentities).").With()
	p.resolved = &identityServers{template: opts.Server, m: p.m, max: max, kept: kept, byKey: map[string]*list.Element{}}
	o := opts.Server
	o.Source, o.ServiceAccountEmail = noTokens{}, "ops@metadata-server.invalid"
	ops, err := New(&o)
	if err != nil {
		return fmt.Errorf("metadataserver: %w", err)
	}
	ops.m = p.m
	p.ops = ops
	return nil
}

// identifyResolved returns the Server of pod's resolved identity, or the
// status and message to refuse the request with.
func (p *PodIdentityServer) identifyResolved(ctx context.Context, pod Pod) (*Server, int, string) {
	id, err := p.resolver.Identity(ctx, pod)
	switch {
	case errors.Is(err, ErrNoIdentity):
		p.lookups.With(podUnmapped).Inc()
		return nil, http.StatusForbidden, oneLine(err.Error())
	case err != nil:
		p.lookups.With(podError).Inc()
		return nil, http.StatusServiceUnavailable, "identity lookup failed: " + oneLine(err.Error())
	}
	s, err := p.resolved.get(id)
	if err != nil {
		p.lookups.With(podError).Inc()
		return nil, http.StatusInternalServerError, "identity of pod " + pod.Namespace + "/" + pod.Name + ": " + oneLine(err.Error())
	}
	p.lookups.With(podFound).Inc()
	return s, 0, ""
}

// noTokens is the Source of the operations Server of resolved identities.
type noTokens struct{}

var errNoTokens = errors.New("metadataserver: no identity")

func (noTokens) AccessTokenProvider([]string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) { return nil, errNoTokens }), nil
}

func (noTokens) IDTokenProvider(IDTokenRequest) (gcptoken.TokenProvider, error) {
	return nil, errNoTokens
}

// isAccountName reports whether s can be the default account's name: an
// email, or for a federated principal that is no service account the
// workload pool's name, which GKE serves for Kubernetes service accounts
// without iam.gke.io/gcp-service-account (PROJECT_ID.svc.id.goog) [?].
func isAccountName(s string) bool {
	return s != "default" && (strings.Contains(s, "@") || strings.HasSuffix(s, ".svc.id.goog") && len(s) > len(".svc.id.goog"))
}
