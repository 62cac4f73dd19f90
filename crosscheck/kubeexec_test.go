package crosscheck_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	clientauthv1beta1 "k8s.io/client-go/pkg/apis/clientauthentication/v1beta1"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credhelper/kubeexec"
)

// TestKubeexecDecodesWithClientGoTypes decodes the kubectl helper's output
// strictly with client-go's own ExecCredential types (kept out of the root
// module's dependencies, so the test lives here).
func TestKubeexecDecodesWithClientGoTypes(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2026, 11, 24, 12, 30, 15, 987654321, time.FixedZone("CET", 3600))
	tok := &gcptoken.Token{Value: "ya29.test-token", Kind: gcptoken.AccessToken, Expiry: expiry}
	wantExpiry := expiry.Truncate(time.Second)

	t.Run("v1", func(t *testing.T) {
		out, err := kubeexec.Marshal(kubeexec.APIVersionV1, tok)
		if err != nil {
			t.Fatal(err)
		}
		var cred clientauthv1.ExecCredential
		strictDecode(t, out, &cred)
		if cred.APIVersion != kubeexec.APIVersionV1 || cred.Kind != "ExecCredential" {
			t.Errorf("got %s %s; want %s ExecCredential", cred.APIVersion, cred.Kind, kubeexec.APIVersionV1)
		}
		if cred.Status == nil || cred.Status.Token != tok.Value {
			t.Fatalf("got status %+v; want token %q", cred.Status, tok.Value)
		}
		if cred.Status.ExpirationTimestamp == nil || !cred.Status.ExpirationTimestamp.Time.Equal(wantExpiry) {
			t.Errorf("got expirationTimestamp %v; want %v", cred.Status.ExpirationTimestamp, wantExpiry)
		}
	})
	t.Run("v1beta1", func(t *testing.T) {
		out, err := kubeexec.Marshal(kubeexec.APIVersionV1beta1, tok)
		if err != nil {
			t.Fatal(err)
		}
		var cred clientauthv1beta1.ExecCredential
		strictDecode(t, out, &cred)
		if cred.APIVersion != kubeexec.APIVersionV1beta1 || cred.Status == nil || cred.Status.Token != tok.Value {
			t.Fatalf("got %+v; want a v1beta1 credential with the token", cred)
		}
		if cred.Status.ExpirationTimestamp == nil || !cred.Status.ExpirationTimestamp.Time.Equal(wantExpiry) {
			t.Errorf("got expirationTimestamp %v; want %v", cred.Status.ExpirationTimestamp, wantExpiry)
		}
		if !strings.Contains(string(out), `"expirationTimestamp":"2026-11-24T11:30:15Z"`) {
			t.Errorf("expiry is not RFC 3339 UTC in %s", out)
		}
	})
	t.Run("no expiry", func(t *testing.T) {
		out, err := kubeexec.Marshal(kubeexec.APIVersionV1, &gcptoken.Token{Value: "t"})
		if err != nil {
			t.Fatal(err)
		}
		var cred clientauthv1.ExecCredential
		strictDecode(t, out, &cred)
		if cred.Status.ExpirationTimestamp != nil {
			t.Errorf("got expirationTimestamp %v; want none for a token without expiry", cred.Status.ExpirationTimestamp)
		}
	})
}

func strictDecode(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s with client-go types: %v", data, err)
	}
}
