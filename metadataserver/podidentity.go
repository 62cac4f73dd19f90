package metadataserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/internal/promtext"
)

// Pod is what a PodLookup knows about the pod behind an address.
type Pod struct {
	Namespace      string
	Name           string
	ServiceAccount string // the pod's Kubernetes service account
	// UID is the pod's UID, when the lookup knows it. Optional.
	UID string
	// HostNetwork marks a caller with the node's address (the node, or a
	// hostNetwork pod) that a lookup maps to an account the node names:
	// Name is then the node's, Namespace and ServiceAccount the account's.
	HostNetwork bool
}

// ErrPodNotFound is returned by a PodLookup when no pod has the address.
var ErrPodNotFound = errors.New("no pod has this address")

// PodLookup finds the pod that owns a source address. Implementations must
// be safe for concurrent use, answer from memory (a watch on the node's
// pods, not an API call per request) and return ErrPodNotFound (possibly
// wrapped) for an address that is not a pod's, such as the node itself or a
// hostNetwork pod, whose address identifies no single pod.
type PodLookup interface {
	PodByIP(ctx context.Context, ip netip.Addr) (Pod, error)
}

// StaticPods is a PodLookup over a fixed table, for tests and for nodes
// whose pods are known in advance.
type StaticPods map[netip.Addr]Pod

// PodByIP implements PodLookup.
func (s StaticPods) PodByIP(_ context.Context, ip netip.Addr) (Pod, error) {
	if p, ok := s[ip]; ok {
		return p, nil
	}
	return Pod{}, ErrPodNotFound
}

// PodIdentityOptions configures a PodIdentityServer.
type PodIdentityOptions struct {
	// Pods identifies callers by source address. Required.
	Pods PodLookup
	// Identities maps a Kubernetes service account, "namespace/name", to
	// the email of the Google service account its pods act as (GKE's
	// iam.gke.io/gcp-service-account annotation, kept in configuration).
	// Pods of other service accounts are refused. Required (non-empty).
	Identities map[string]string
	// SourceFor returns the token Source of a Google service account,
	// typically impersonation of it by the node's own credential (which
	// then needs roles/iam.serviceAccountTokenCreator on it). It is called
	// once per distinct email, by NewPodIdentityServer, and must not do
	// I/O. Required.
	SourceFor func(email string) (Source, error)
	// Server is the template of every identity's server: project,
	// instance, attributes, cache timings, Logger, Now. Its Source and
	// ServiceAccountEmail are ignored (each identity sets its own).
	// Required.
	Server Options
	// LookupTimeout bounds one PodLookup call. Optional; default 2s.
	LookupTimeout time.Duration
	// Resolver decides each pod's identity when it asks, instead of
	// Identities and SourceFor, which must then be unset
	// (podidentity_resolver.go). Optional.
	Resolver IdentityResolver
	// MaxIdentities bounds how many resolved identities keep a Server
	// (and its token cache); the least recently used is dropped. Optional;
	// default 1000; only with Resolver.
	MaxIdentities int
}

func (o *PodIdentityOptions) validate() error {
	if o.Pods == nil {
		return errors.New("PodIdentityOptions.Pods is required")
	}
	if o.LookupTimeout < 0 || o.MaxIdentities < 0 {
		return errors.New("PodIdentityOptions.LookupTimeout and MaxIdentities must not be negative")
	}
	if o.Resolver != nil {
		if o.Identities != nil || o.SourceFor != nil {
			return errors.New("PodIdentityOptions.Resolver replaces Identities and SourceFor: set one or the other")
		}
		return nil
	}
	if len(o.Identities) == 0 {
		return errors.New("PodIdentityOptions.Identities is required: map at least one namespace/serviceaccount to a Google service account")
	}
	if o.SourceFor == nil {
		return errors.New("PodIdentityOptions.SourceFor is required")
	}
	for ksa := range o.Identities {
		ns, name, ok := strings.Cut(ksa, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			return fmt.Errorf("PodIdentityOptions.Identities: key %q is not namespace/serviceaccount", ksa)
		}
	}
	return nil
}

// PodIdentityServer is a metadata server for a Kubernetes node that serves
// each pod the Google service account mapped to the pod's Kubernetes
// service account, as GKE's metadata server does under Workload Identity.
//
// The caller is identified by the source address of its connection
// (http.Request.RemoteAddr), never by a header: any header is the caller's
// to forge. Behind hostPort or a node-local address the source is the pod's
// own IP, which the pod network assigns (a CNI that drops spoofed source
// addresses keeps a pod from claiming another's). So the server must be
// reached directly, not through a proxy or a SNAT that rewrites source
// addresses; X-Forwarded-For is refused as by Server.
//
// Each Google service account gets one Server (built by
// NewPodIdentityServer, so its token caches are shared by all the pods
// that act as it); requests are handed to it unchanged, so every path the
// single-identity Server serves behaves the same, with "default" being the
// pod's account. Callers that are no known pod get 403, as do pods whose
// service account is not mapped. /healthz and /metrics (every identity's
// metrics added up, plus gcptoken_metadataserver_pod_lookups_total) are
// served to anyone, like Server's.
type PodIdentityServer struct {
	pods       PodLookup
	identities map[string]string  // namespace/ksa → email
	servers    map[string]*Server // email → server
	timeout    time.Duration
	m          *metrics
	lookups    *promtext.CounterVec // result
	ops        *Server              // any one identity's server: /healthz, /metrics, error replies, logs
	resolver   IdentityResolver     // with PodIdentityOptions.Resolver
	resolved   *identityServers     // with PodIdentityOptions.Resolver
}

// Results of a pod lookup, the lookups metric's label.
const (
	podFound    = "found"
	podUnknown  = "unknown_pod"
	podUnmapped = "unmapped"
	podError    = "error"
)

// NewPodIdentityServer validates opts and builds one Server per Google
// service account named in opts.Identities.
func NewPodIdentityServer(opts *PodIdentityOptions) (*PodIdentityServer, error) {
	if opts == nil {
		return nil, errors.New("metadataserver: PodIdentityOptions are required")
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("metadataserver: %w", err)
	}
	p := &PodIdentityServer{
		pods:       opts.Pods,
		identities: maps.Clone(opts.Identities),
		servers:    map[string]*Server{},
		timeout:    opts.LookupTimeout,
		m:          newMetrics(),
	}
	if p.timeout == 0 {
		p.timeout = 2 * time.Second
	}
	p.lookups = p.m.reg.NewCounterVec("gcptoken_metadataserver_pod_lookups_total",
		"Caller identifications by result: found (a mapped pod), unknown_pod (no pod has the source address), unmapped (the pod's service account has no Google service account), error (the lookup failed).",
		"result")
	if opts.Resolver != nil {
		if err := p.newResolvedIdentities(opts); err != nil {
			return nil, err
		}
		return p, nil
	}
	emails := slices.Sorted(maps.Values(p.identities))
	for _, email := range slices.Compact(emails) {
		src, err := opts.SourceFor(email)
		if err != nil {
			return nil, fmt.Errorf("metadataserver: token source for %s: %w", email, err)
		}
		o := opts.Server
		o.Source, o.ServiceAccountEmail = src, email
		s, err := New(&o)
		if err != nil {
			return nil, fmt.Errorf("metadataserver: identity %s: %w", email, err)
		}
		// One registry for the node: the metrics carry no identity label
		// (it would be one series per account), so identities add up.
		s.m = p.m
		p.servers[email] = s
		p.ops = s
	}
	return p, nil
}

// Prewarm fetches every identity's default access token.
func (p *PodIdentityServer) Prewarm(ctx context.Context) error {
	var errs []error
	for _, s := range p.servers {
		errs = append(errs, s.Prewarm(ctx))
	}
	return errors.Join(errs...)
}

// ServeHTTP implements http.Handler.
func (p *PodIdentityServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
		p.ops.ServeHTTP(w, r) // its registry is p.m's
		return
	}
	s, status, msg := p.identify(r)
	if s == nil {
		w.Header()["Metadata-Flavor"] = hdrFlavor
		st := reqState{endpoint: epOther}
		p.ops.plain(w, &st, status, msg)
		p.m.requests.With(st.endpoint, codeLabel(st.status)).Inc()
		path := r.URL.Path
		if len(path) > 256 {
			path = path[:256] + "…"
		}
		p.ops.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused",
			slog.String("method", r.Method), slog.String("path", path), slog.String("source", r.RemoteAddr),
			slog.Int("status", status), slog.String("reason", msg))
		return
	}
	s.ServeHTTP(w, r)
}

// identify returns the server of the calling pod's identity, or the status
// and one-line message to refuse the request with.
func (p *PodIdentityServer) identify(r *http.Request) (*Server, int, string) {
	if _, ok := r.Header["X-Forwarded-For"]; ok {
		// A proxy in front would make every caller look like the proxy.
		return nil, http.StatusForbidden, "Request contains X-Forwarded-For header and is forbidden"
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		p.lookups.With(podError).Inc()
		return nil, http.StatusForbidden, "cannot tell the calling pod: no source address"
	}
	ip := ap.Addr().Unmap()
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	pod, err := p.pods.PodByIP(ctx, ip)
	switch {
	case errors.Is(err, ErrPodNotFound):
		p.lookups.With(podUnknown).Inc()
		if err != ErrPodNotFound { // the lookup says why
			return nil, http.StatusForbidden, oneLine(err.Error())
		}
		return nil, http.StatusForbidden, fmt.Sprintf("no pod on this node has the address %s (hostNetwork pods and the node itself get no pod identity)", ip)
	case err != nil:
		p.lookups.With(podError).Inc()
		return nil, http.StatusServiceUnavailable, "pod lookup failed: " + oneLine(err.Error())
	}
	if p.resolver != nil {
		return p.identifyResolved(ctx, pod)
	}
	ksa := pod.Namespace + "/" + pod.ServiceAccount
	email, ok := p.identities[ksa]
	if !ok {
		p.lookups.With(podUnmapped).Inc()
		return nil, http.StatusForbidden, fmt.Sprintf("the Kubernetes service account %s of pod %s/%s is not mapped to a Google service account", ksa, pod.Namespace, pod.Name)
	}
	p.lookups.With(podFound).Inc()
	return p.servers[email], 0, ""
}

// Serve serves on ln until ctx is done, with the same timeouts and graceful
// shutdown as Server.Serve.
func (p *PodIdentityServer) Serve(ctx context.Context, ln net.Listener) error {
	return serveHandler(ctx, ln, p, p.ops.log)
}
