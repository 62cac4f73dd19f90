package kubeidentity

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// coreClient is a REST client for the few core/v1 calls the Node makes.
// It is built on client-go's rest package with a scheme of core/v1 and
// authentication/v1 only, rather than on the generated clientset
// (k8s.io/client-go/kubernetes), whose scheme registers every API group:
// that would quadruple the gcptoken binary (13 MB to 51 MB) for three
// resources. The calls are the ones the clientset's CoreV1 client makes.
type coreClient struct {
	rest   rest.Interface
	params runtime.ParameterCodec
}

func newCoreClient(base *rest.Config) (*coreClient, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, authenticationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	codecs := serializer.NewCodecFactory(scheme)
	cfg := rest.CopyConfig(base)
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(scheme, codecs).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = "gcptoken-metadata-server " + rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &coreClient{rest: client, params: runtime.NewParameterCodec(scheme)}, nil
}

// list lists resource in every namespace into into (a *corev1.…List).
func (c *coreClient) list(ctx context.Context, resource string, opts metav1.ListOptions, into runtime.Object) (runtime.Object, error) {
	err := c.rest.Get().UseProtobufAsDefault().Resource(resource).VersionedParams(&opts, c.params).Do(ctx).Into(into)
	return into, err
}

// watch watches resource in every namespace.
func (c *coreClient) watch(ctx context.Context, resource string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return c.rest.Get().UseProtobufAsDefault().Resource(resource).VersionedParams(&opts, c.params).Watch(ctx)
}

// createToken asks the TokenRequest API for a token of namespace/name.
func (c *coreClient) createToken(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	out := &authenticationv1.TokenRequest{}
	err := c.rest.Post().UseProtobufAsDefault().Namespace(namespace).Resource("serviceaccounts").Name(name).SubResource("token").
		VersionedParams(&metav1.CreateOptions{}, c.params).Body(tr).Do(ctx).Into(out)
	return out, err
}
