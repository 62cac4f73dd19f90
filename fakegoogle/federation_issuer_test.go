package fakegoogle

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// kubeIssuer stands in for a Kubernetes API server's service-account
// issuer: a key, its published JWKS, and tokens shaped like TokenRequest's.
type kubeIssuer struct {
	url  string
	kid  string
	key  *rsa.PrivateKey
	jwks []byte
}

func newKubeIssuer(t *testing.T) *kubeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k := &kubeIssuer{url: "https://127.0.0.1:6443", kid: "kube-key-1", key: key}
	k.jwks, err = json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": k.kid,
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// token returns a service-account token for namespace/name; edit adjusts
// its claims.
func (k *kubeIssuer) token(t *testing.T, namespace, name, aud string, edit func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{
		"aud": []string{aud}, "iss": k.url, "sub": "system:serviceaccount:" + namespace + ":" + name,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]string{"name": name, "uid": "u-1"}},
	}
	if edit != nil {
		edit(c)
	}
	return signJWS(t, k.key, map[string]string{"alg": "RS256", "kid": k.kid}, c)
}

// TestSTSKubernetesIssuer runs STS's exchange for a provider that trusts an
// issuer other than the fake's own (a Kubernetes cluster), with its keys
// uploaded as JWKS and google.subject mapped from a claim.
func TestSTSKubernetesIssuer(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	k := newKubeIssuer(t)
	cluster := IdentityProvider{ProjectNumber: "123456", Pool: "clusters", Provider: "kube", Type: ProviderOIDC, Issuer: k.url, JWKS: k.jwks}
	byNamespace := cluster
	byNamespace.Provider = "kube-ns"
	byNamespace.AttributeMapping = map[string]string{
		"google.subject": "assertion['kubernetes.io']['namespace']", "attribute.sa": "assertion['kubernetes.io'].serviceaccount.name",
	}
	for _, p := range []IdentityProvider{cluster, byNamespace} {
		if err := f.AddIdentityProvider(p); err != nil {
			t.Fatal(err)
		}
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	aud := cluster.Audience()
	good := k.token(t, "apps", "web", aud, nil)
	long := k.token(t, "apps", strings.Repeat("n", 120), aud, nil)
	tests := []struct {
		name      string
		provider  IdentityProvider
		token     string
		principal string // "" means refused with desc
		desc      string
	}{
		{"service account token", cluster, good, cluster.Principal("system:serviceaccount:apps:web"), ""},
		{"google.subject from a nested claim", byNamespace, k.token(t, "apps", "web", byNamespace.Audience(), nil), byNamespace.Principal("apps"), ""},
		{"fake IdP's token", cluster, mustMint(t, f, aud), "", "issuer"},
		{"another issuer", cluster, k.token(t, "apps", "web", aud, func(c map[string]any) { c["iss"] = "https://other.example" }), "", "issuer"},
		{"signed by a key not in the JWKS", cluster, signJWS(t, other, map[string]string{"alg": "RS256", "kid": k.kid}, claimsOf(t, good)), "", "signature"},
		{"unknown kid", cluster, signJWS(t, k.key, map[string]string{"alg": "RS256", "kid": "rotated"}, claimsOf(t, good)), "", "signature"},
		{"audience of another provider", cluster, k.token(t, "apps", "web", byNamespace.Audience(), nil), "", "audience"},
		{"mapped subject longer than 127 bytes", cluster, long, "", "127"},
		{"mapped claim missing", byNamespace, k.token(t, "apps", "web", byNamespace.Audience(), func(c map[string]any) { delete(c, "kubernetes.io") }), "", "google.subject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, f.STSURL(), exchangeForm(tt.provider.Audience(), SubjectTokenTypeJWT, tt.token), nil)
			if tt.principal == "" {
				wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", "")
				if d, _ := r.json(t)["error_description"].(string); !strings.Contains(d, tt.desc) {
					t.Errorf("error_description = %q; want it to mention %q", d, tt.desc)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status %d body %s; want 200", r.status, r.body)
			}
			tok, _ := r.json(t)["access_token"].(string)
			info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil).json(t)
			if info["sub"] != tt.principal {
				t.Errorf("tokeninfo sub = %v; want %q", info["sub"], tt.principal)
			}
		})
	}
}

func mustMint(t *testing.T, f *testFake, aud string) string {
	t.Helper()
	tok, err := f.MintOIDCSubjectToken("system:serviceaccount:apps:web", aud, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	_, c := decodeJWT(t, tok)
	return c
}

// TestWorkloadIdentityUser checks roles/iam.workloadIdentityUser granted to
// one Kubernetes service account's principal: access and ID tokens of the
// account, no signing, and nothing for another service account of the same
// pool.
func TestWorkloadIdentityUser(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	k := newKubeIssuer(t)
	p := IdentityProvider{ProjectNumber: "123456", Pool: "clusters", Provider: "kube", Type: ProviderOIDC, Issuer: k.url, JWKS: k.jwks}
	if err := f.AddIdentityProvider(p); err != nil {
		t.Fatal(err)
	}
	acct, err := f.AddServiceAccount("app@" + DefaultProjectID + ".iam.gserviceaccount.com")
	if err != nil {
		t.Fatal(err)
	}
	sa := acct.Email
	if err := f.GrantWorkloadIdentityUser(p.Principal("system:serviceaccount:apps:web"), sa); err != nil {
		t.Fatal(err)
	}
	exchange := func(ns, name string) string {
		r := postForm(t, f.STSURL(), exchangeForm(p.Audience(), SubjectTokenTypeJWT, k.token(t, ns, name, p.Audience(), nil)), nil)
		if r.status != http.StatusOK {
			t.Fatalf("STS for %s/%s: %d %s", ns, name, r.status, r.body)
		}
		return r.json(t)["access_token"].(string)
	}
	call := func(bearer, method, body string) int {
		req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/projects/-/serviceAccounts/"+sa+":"+method, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		return do(t, req).status
	}
	web, worker := exchange("apps", "web"), exchange("apps", "worker")
	for _, tt := range []struct {
		who, bearer, method, body string
		want                      int
	}{
		{"web", web, "generateAccessToken", `{"scope":["https://www.googleapis.com/auth/cloud-platform"]}`, 200},
		{"web", web, "generateIdToken", `{"audience":"https://svc.example"}`, 200},
		{"web", web, "signBlob", `{"payload":"aGk="}`, 403},
		{"web", web, "signJwt", `{"payload":"{}"}`, 403},
		{"worker", worker, "generateAccessToken", `{"scope":["https://www.googleapis.com/auth/cloud-platform"]}`, 403},
	} {
		if got := call(tt.bearer, tt.method, tt.body); got != tt.want {
			t.Errorf("%s %s: status %d; want %d", tt.who, tt.method, got, tt.want)
		}
	}

	// The grant and the provider survive MarshalState/LoadState.
	st, err := f.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	g := newFake(t, nil)
	if err := g.LoadState(st); err != nil {
		t.Fatal(err)
	}
	again, err := g.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	var saved struct {
		ServiceAccounts []struct {
			Email                 string   `json:"email"`
			WorkloadIdentityUsers []string `json:"workload_identity_users"`
		} `json:"service_accounts"`
	}
	if err := json.Unmarshal(again, &saved); err != nil {
		t.Fatal(err)
	}
	kept := false
	for _, s := range saved.ServiceAccounts {
		kept = kept || s.Email == sa && slices.Equal(s.WorkloadIdentityUsers, []string{p.Principal("system:serviceaccount:apps:web")})
	}
	if !kept {
		t.Errorf("the Workload Identity User grant did not survive LoadState: %+v", saved.ServiceAccounts)
	}
	restored := false
	for _, q := range g.IdentityProviders() {
		restored = restored || q.Name() == p.Name() && q.Issuer == k.url && json.Valid(q.JWKS) && bytes.Contains(q.JWKS, []byte(k.kid))
	}
	if !restored {
		t.Errorf("provider %s with its issuer and JWKS did not survive LoadState", p.Name())
	}
	for _, bad := range []string{"serviceAccount:" + sa, "principal://iam.googleapis.com/foo"} {
		if err := f.GrantWorkloadIdentityUser(bad, sa); err == nil {
			t.Errorf("GrantWorkloadIdentityUser(%q) accepted", bad)
		}
	}
}

func TestIdentityProviderIssuerValidation(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	k := newKubeIssuer(t)
	base := IdentityProvider{ProjectNumber: "1", Pool: "p", Provider: "k", Type: ProviderOIDC}
	for _, tt := range []struct {
		name string
		edit func(*IdentityProvider)
		want string
	}{
		{"issuer without JWKS", func(p *IdentityProvider) { p.Issuer = k.url }, "needs JWKS"},
		{"JWKS without issuer", func(p *IdentityProvider) { p.JWKS = k.jwks }, "without an issuer"},
		{"http issuer", func(p *IdentityProvider) { p.Issuer, p.JWKS = "http://127.0.0.1:6443", k.jwks }, "https"},
		{"JWKS not JSON", func(p *IdentityProvider) { p.Issuer, p.JWKS = k.url, []byte("{") }, "JSON Web Key Set"},
		{"JWKS without RSA keys", func(p *IdentityProvider) { p.Issuer, p.JWKS = k.url, []byte(`{"keys":[{"kty":"EC"}]}`) }, "no RSA"},
		{"AWS provider with issuer", func(p *IdentityProvider) { p.Type, p.Issuer, p.JWKS = ProviderAWS, k.url, k.jwks }, "oidc"},
		{"CEL beyond paths", func(p *IdentityProvider) {
			p.AttributeMapping = map[string]string{"google.subject": "assertion.sub + 'x'"}
		}, "only assertion"},
		{"no google.subject", func(p *IdentityProvider) { p.AttributeMapping = map[string]string{"attribute.ns": "assertion.ns"} }, "google.subject"},
		{"unknown key", func(p *IdentityProvider) {
			p.AttributeMapping = map[string]string{"google.subject": "assertion.sub", "google.groups": "assertion.g"}
		}, "google.groups"},
	} {
		p := base
		tt.edit(&p)
		if err := f.AddIdentityProvider(p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: AddIdentityProvider = %v; want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}
