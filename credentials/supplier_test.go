package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// TestNewFederated exchanges supplied subject tokens at the fake's STS:
// directly (the federated principal's own access token, no ID tokens) and
// with impersonation (access and ID tokens of the service account).
func TestNewFederated(t *testing.T) {
	t.Parallel()
	f, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	emulator := strings.TrimPrefix(f.URL, "http://")
	opts := &Options{Getenv: func(k string) string {
		if k == "GCPTOKEN_EMULATOR_HOST" {
			return emulator
		}
		return ""
	}}
	var calls atomic.Int32
	supplier := SubjectTokenSupplierFunc(func(context.Context) (string, error) {
		calls.Add(1)
		return f.MintOIDCSubjectToken("system:serviceaccount:apps:web", "", time.Hour)
	})
	principal := "principal://iam.googleapis.com/projects/" + fakegoogle.DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/" + fakegoogle.DefaultWorkloadPool + "/subject/system:serviceaccount:apps:web"

	direct, err := NewFederated(&FederatedOptions{
		Audience: fakegoogle.DefaultOIDCAudience, Supplier: supplier, SupplierName: `test supplier "apps/web"`,
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if direct.Type != TypeExternalAccount || !strings.Contains(direct.Source, `test supplier "apps/web"`) {
		t.Errorf("Type %q Source %q; want %q naming the supplier", direct.Type, direct.Source, TypeExternalAccount)
	}
	tp, err := direct.AccessTokenSource(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(f.URL + "/tokeninfo?access_token=" + url.QueryEscape(tok.Value))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.Sub != principal {
		t.Errorf("tokeninfo of the federated token: sub %q (%v); want %q", info.Sub, err, principal)
	}
	if calls.Load() != 1 {
		t.Errorf("supplier called %d times for one exchange; want 1", calls.Load())
	}
	if _, err := direct.IDTokenSource("https://svc.example", nil); err == nil {
		t.Error("ID tokens without impersonation: got a provider; want an error (STS issues access tokens only)")
	}

	imp, err := NewFederated(&FederatedOptions{
		Audience: fakegoogle.DefaultOIDCAudience, Supplier: supplier, SupplierName: `test supplier "apps/web"`,
		ServiceAccount: fakegoogle.DefaultTargetServiceAccount,
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if imp.Type != TypeExternalAccount || imp.Principal != fakegoogle.DefaultTargetServiceAccount {
		t.Errorf("impersonating: Type %q Principal %q", imp.Type, imp.Principal)
	}
	if imp.Identity() == direct.Identity() {
		t.Error("impersonating and direct credentials share an Identity")
	}
	idp, err := imp.IDTokenSource("https://svc.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := idp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id.Metadata[gcptoken.MetaAudience] != "https://svc.example" {
		t.Errorf("ID token audience %q", id.Metadata[gcptoken.MetaAudience])
	}
}

func TestNewFederatedErrors(t *testing.T) {
	t.Parallel()
	ok := SubjectTokenSupplierFunc(func(context.Context) (string, error) { return "a.b.c", nil })
	for _, tt := range []struct {
		name string
		fo   *FederatedOptions
		want string
	}{
		{"nil", nil, "FederatedOptions are required"},
		{"no audience", &FederatedOptions{Supplier: ok, SupplierName: "s"}, "Audience is required"},
		{"audience not a provider", &FederatedOptions{Audience: "https://example.com", Supplier: ok, SupplierName: "s"}, "full resource name"},
		{"no supplier", &FederatedOptions{Audience: fakegoogle.DefaultOIDCAudience, SupplierName: "s"}, "Supplier is required"},
		{"no name", &FederatedOptions{Audience: fakegoogle.DefaultOIDCAudience, Supplier: ok}, "SupplierName"},
		{"lifetime without impersonation", &FederatedOptions{Audience: fakegoogle.DefaultOIDCAudience, Supplier: ok, SupplierName: "s", Lifetime: time.Hour}, "Lifetime"},
		{"bad token URL", &FederatedOptions{Audience: fakegoogle.DefaultOIDCAudience, Supplier: ok, SupplierName: "s", TokenURL: "ftp://x"}, "TokenURL"},
	} {
		if _, err := NewFederated(tt.fo, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want it to mention %q", tt.name, err, tt.want)
		}
	}

	// A supplier's outage stays an outage; what it returns is checked like a
	// subject-token file.
	outage := &gcptoken.Error{Op: "TokenRequest", StatusCode: 503}
	for _, tt := range []struct {
		name        string
		supplier    SubjectTokenSupplierFunc
		unavailable bool
	}{
		{"outage", func(context.Context) (string, error) { return "", outage }, true},
		{"not a token", func(context.Context) (string, error) { return "two\nlines", nil }, false},
	} {
		c, err := NewFederated(&FederatedOptions{Audience: fakegoogle.DefaultOIDCAudience, Supplier: tt.supplier, SupplierName: "s",
			TokenURL: "http://127.0.0.1:1/v1/token"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := c.AccessTokenSource(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tp.Token(t.Context())
		if err == nil || gcptoken.IsUnavailable(err) != tt.unavailable || errors.Is(err, gcptoken.ErrInvalidCredentials) == tt.unavailable {
			t.Errorf("%s: err = %v; want unavailable=%v", tt.name, err, tt.unavailable)
		}
	}
}
