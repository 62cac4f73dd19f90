package diskcache

import (
	"testing"

	"github.com/gcptoken/gcptoken"
)

func TestKeyStable(t *testing.T) {
	t.Parallel()
	p := KeyParts{
		Identity:  "service_account:sa@p.iam.gserviceaccount.com:kid1",
		Kind:      gcptoken.AccessToken,
		Scopes:    []string{"b", "a"},
		Endpoints: []string{"https://oauth2.googleapis.com/token"},
	}
	// Pinned so an accidental change to the encoding (which would orphan
	// every user's cache and, worse, could alias old entries) fails loudly.
	const want = "324dcd02d3e5524699d9a02581462a524a2df249979de86a93088336f0cdb71e"
	got := Key(p)
	if got != want {
		t.Errorf("Key(%+v) = %q; want %q", p, got, want)
	}
	if p.Scopes[0] != "b" {
		t.Errorf("Key sorted the caller's Scopes in place: %q", p.Scopes)
	}
}

func TestKeySensitivity(t *testing.T) {
	t.Parallel()
	newBase := func() KeyParts {
		return KeyParts{
			Identity:  "authorized_user:client-id",
			Kind:      gcptoken.AccessToken,
			Scopes:    []string{"openid", "https://www.googleapis.com/auth/cloud-platform"},
			Endpoints: []string{"https://a", "https://b"},
		}
	}
	tests := []struct {
		name   string
		modify func(p *KeyParts)
		same   bool
	}{
		{name: "identity", modify: func(p *KeyParts) { p.Identity = "authorized_user:other-client" }},
		{name: "kind", modify: func(p *KeyParts) { p.Kind = gcptoken.IDToken }},
		{name: "scope added", modify: func(p *KeyParts) { p.Scopes = append(p.Scopes, "email") }},
		{name: "scope removed", modify: func(p *KeyParts) { p.Scopes = p.Scopes[:1] }},
		{name: "audience", modify: func(p *KeyParts) { p.Audience = "https://svc.run.app" }},
		{name: "endpoint", modify: func(p *KeyParts) { p.Endpoints[0] = "http://127.0.0.1:8080/token" }},
		{name: "endpoint order", modify: func(p *KeyParts) { p.Endpoints = []string{"https://b", "https://a"} }},
		{name: "extra", modify: func(p *KeyParts) { p.Extra = []string{"impersonate:x@y"} }},
		{name: "scopes joined vs split", modify: func(p *KeyParts) {
			p.Scopes = []string{"openid https://www.googleapis.com/auth/cloud-platform"}
		}},
		{name: "field boundary moved", modify: func(p *KeyParts) {
			p.Endpoints = []string{"https://a"}
			p.Extra = []string{"https://b"}
		}},
		{name: "scope order", same: true, modify: func(p *KeyParts) {
			p.Scopes = []string{"https://www.googleapis.com/auth/cloud-platform", "openid"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, m := newBase(), newBase()
			tt.modify(&m)
			if got := Key(m) == Key(base); got != tt.same {
				t.Errorf("Key(%+v) == Key(%+v) is %v; want %v", m, base, got, tt.same)
			}
		})
	}
}
