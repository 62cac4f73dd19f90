package metadataserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// staticSource hands out fixed tokens, standing in for impersonation of
// the Google service account.
type staticSource struct{ email string }

func (s staticSource) AccessTokenProvider([]string) (gcptoken.TokenProvider, error) {
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		return &gcptoken.Token{Value: "ya29.for-" + s.email, Expiry: time.Now().Add(time.Hour)}, nil
	}), nil
}

func (s staticSource) IDTokenProvider(metadataserver.IDTokenRequest) (gcptoken.TokenProvider, error) {
	return nil, fmt.Errorf("no ID tokens in this example")
}

// Each pod gets the Google service account mapped to its Kubernetes service
// account, identified by the source address of its connection.
func ExamplePodIdentityServer() {
	pods := metadataserver.StaticPods{
		netip.MustParseAddr("10.4.0.11"): {Namespace: "shop", Name: "cart-7d9f", ServiceAccount: "cart"},
		netip.MustParseAddr("10.4.0.12"): {Namespace: "shop", Name: "batch-x", ServiceAccount: "default"},
	}
	srv, err := metadataserver.NewPodIdentityServer(&metadataserver.PodIdentityOptions{
		Pods:       pods,
		Identities: map[string]string{"shop/cart": "cart@my-project.iam.gserviceaccount.com"},
		SourceFor: func(email string) (metadataserver.Source, error) {
			return staticSource{email}, nil
		},
		Server: metadataserver.Options{ProjectID: "my-project"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, from := range []string{"10.4.0.11:40000", "10.4.0.12:40000", "10.4.0.99:40000"} {
		r := httptest.NewRequest(http.MethodGet, "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/email", nil)
		r.Header.Set("Metadata-Flavor", "Google")
		r.RemoteAddr = from
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		fmt.Printf("%s: %d %s\n", from, w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 10.4.0.11:40000: 200 cart@my-project.iam.gserviceaccount.com
	// 10.4.0.12:40000: 403 the Kubernetes service account shop/default of pod shop/batch-x is not mapped to a Google service account
	// 10.4.0.99:40000: 403 no pod on this node has the address 10.4.0.99 (hostNetwork pods and the node itself get no pod identity)
}
