package kubeidentity

import (
	"context"
	"errors"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// tokenRequests asks the TokenRequest API for service-account tokens with
// the provider's audience.
type tokenRequests struct {
	client   *coreClient
	audience string
	lifetime time.Duration
}

// supplier returns the subject-token supplier of one ServiceAccount: its
// tokens are cached (gcptoken.NewCachedProvider, so refreshed early with
// jitter), as several STS exchanges (one per scope set) may want one
// within its lifetime.
func (t *tokenRequests) supplier(namespace, name string) credentials.SubjectTokenSupplier {
	src := gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		return t.request(ctx, namespace, name)
	})
	cached, err := gcptoken.NewCachedProvider(src, nil)
	return credentials.SubjectTokenSupplierFunc(func(ctx context.Context) (string, error) {
		if err != nil { // cannot happen with default options
			return "", err
		}
		tok, err := cached.Token(ctx)
		if err != nil {
			return "", err
		}
		return tok.Value, nil
	})
}

// request makes one TokenRequest. The token is not bound to a pod: all
// pods of the account share it. (A binding would not reach Google anyway:
// STS checks the signature, not whether the pod still exists.)
func (t *tokenRequests) request(ctx context.Context, namespace, name string) (*gcptoken.Token, error) {
	seconds := int64(t.lifetime / time.Second)
	tr, err := t.client.createToken(ctx, namespace, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{t.audience}, ExpirationSeconds: &seconds},
	})
	op := "Kubernetes TokenRequest for service account " + namespace + "/" + name
	if err != nil {
		return nil, apiError(op, err)
	}
	return &gcptoken.Token{Value: tr.Status.Token, Type: "Bearer", Kind: gcptoken.IDToken, Expiry: tr.Status.ExpirationTimestamp.Time}, nil
}

// apiError turns a Kubernetes API failure into a *gcptoken.Error, which
// the metadata server classifies: no answer and 5xx are outages (503,
// retried), a refusal such as RBAC's 403 is reported as it is (502).
func apiError(op string, err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		code := int(s.Code)
		if code == 0 {
			code = http.StatusInternalServerError
		}
		return &gcptoken.Error{Op: op, StatusCode: code, Code: string(s.Reason), Description: s.Message}
	}
	return &gcptoken.Error{Op: op, Err: err}
}
