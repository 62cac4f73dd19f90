package kubeidentity

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// Identity implements metadataserver.IdentityResolver: pod acts as its
// ServiceAccount's federated principal, or as the Google service account
// that the ServiceAccount's GoogleServiceAccountAnnotation names. The
// identity's key holds the ServiceAccount's UID and annotation, so a
// changed annotation or a re-created ServiceAccount is a new identity with
// a cache of its own.
//
// A ServiceAccount the watch has not seen is waited for until ctx is done,
// as PodByIP waits for pods.
func (n *Node) Identity(ctx context.Context, pod metadataserver.Pod) (metadataserver.Identity, error) {
	sa, err := untilSettled(ctx, func() (*corev1.ServiceAccount, bool, error) { return n.serviceAccount(pod) })
	if err != nil {
		return metadataserver.Identity{}, err
	}
	ksa := pod.Namespace + "/" + pod.ServiceAccount
	if pod.HostNetwork && sa.Annotations[AllowHostNetworkAnnotation] != "true" {
		return metadataserver.Identity{}, fmt.Errorf("%w: node %s's annotation %s names the service account %s, which does not allow it: annotate it %s=true",
			metadataserver.ErrNoIdentity, n.opts.NodeName, HostNetworkAnnotation, ksa, AllowHostNetworkAnnotation)
	}
	gsa := sa.Annotations[GoogleServiceAccountAnnotation]
	if gsa != "" && !isServiceAccountEmail(gsa) {
		return metadataserver.Identity{}, fmt.Errorf("%w: service account %s: annotation %s=%q is not a Google service account's email",
			metadataserver.ErrNoIdentity, ksa, GoogleServiceAccountAnnotation, gsa)
	}
	email := gsa
	if email == "" {
		email = n.opts.ProjectID + ".svc.id.goog"
	}
	uid := string(sa.UID)
	return metadataserver.Identity{
		Key:   ksa + "|" + uid + "|" + gsa,
		Email: email,
		NewSource: func() (metadataserver.Source, error) {
			c, err := credentials.NewFederated(&credentials.FederatedOptions{
				Audience:       n.opts.Audience,
				Supplier:       n.tokens.supplier(sa.Namespace, sa.Name),
				SupplierName:   fmt.Sprintf("Kubernetes service account %s (uid %s)", ksa, uid),
				ServiceAccount: gsa,
			}, n.opts.Credentials)
			if err != nil {
				return nil, err
			}
			if gsa == "" {
				return federatedSource{metadataserver.FromCredentials(c), ksa}, nil
			}
			return metadataserver.FromCredentials(c), nil
		},
	}, nil
}

// federatedSource is the Source of a federated principal: access tokens
// only. STS issues no ID tokens, and a principal is no service account IAM
// could mint one for; GKE refuses them alike.
type federatedSource struct {
	metadataserver.Source
	ksa string
}

func (f federatedSource) IDTokenProvider(metadataserver.IDTokenRequest) (gcptoken.TokenProvider, error) {
	return nil, fmt.Errorf("the Kubernetes service account %s has no %s annotation: ID tokens need a Google service account to impersonate "+
		"(annotate it with one that grants the service account's principal roles/iam.workloadIdentityUser)", f.ksa, GoogleServiceAccountAnnotation)
}

// serviceAccount returns pod's ServiceAccount; settled reports whether the
// answer is final.
func (n *Node) serviceAccount(pod metadataserver.Pod) (_ *corev1.ServiceAccount, settled bool, _ error) {
	if !n.synced() {
		return nil, false, n.notSynced()
	}
	ksa := pod.Namespace + "/" + pod.ServiceAccount
	obj, ok, err := n.accounts.GetStore().GetByKey(ksa)
	switch {
	case err != nil:
		return nil, true, err
	case !ok && pod.HostNetwork:
		return nil, false, fmt.Errorf("%w: node %s's annotation %s names the service account %s, which does not exist",
			metadataserver.ErrNoIdentity, n.opts.NodeName, HostNetworkAnnotation, ksa)
	case !ok:
		// A pod cannot be created for a missing ServiceAccount: the watch is
		// behind, or the account was deleted under the pod. 503 either way.
		return nil, false, fmt.Errorf("service account %s of pod %s/%s is not (yet) known", ksa, pod.Namespace, pod.Name)
	}
	return obj.(*corev1.ServiceAccount), true, nil
}

// isServiceAccountEmail accepts what can name a Google service account in
// a metadata path: local@domain.tld, without '/', spaces or control
// characters.
func isServiceAccountEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	bad := func(r rune) bool { return r == '/' || r == '@' || r <= ' ' || r == 0x7f }
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsFunc(local, bad) && !strings.ContainsFunc(domain, bad)
}
