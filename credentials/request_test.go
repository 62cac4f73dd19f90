package credentials

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gcptoken/gcptoken"
)

// TestResolveDefaults checks the one home of the default scope: every
// credential but a user's gets DefaultScope when asked for an access token
// without scopes, the metadata server included.
func TestResolveDefaults(t *testing.T) {
	t.Parallel()
	creds := allKinds(t, closedURL(t), "127.0.0.1:1")
	tests := []struct {
		name       string
		credType   string
		req        *TokenRequest
		wantKind   gcptoken.Kind
		wantScopes []string
	}{
		{"nil request, key", TypeServiceAccount, nil, gcptoken.AccessToken, []string{DefaultScope}},
		{"nil request, metadata server", TypeComputeMetadata, nil, gcptoken.AccessToken, []string{DefaultScope}},
		{"nil request, user", TypeAuthorizedUser, nil, gcptoken.AccessToken, nil},
		{"scopes given", TypeServiceAccount, &TokenRequest{Scopes: []string{"s"}}, gcptoken.AccessToken, []string{"s"}},
		{"scopes given, user", TypeAuthorizedUser, &TokenRequest{Scopes: []string{"s"}}, gcptoken.AccessToken, []string{"s"}},
		{"ID token", TypeServiceAccount, &TokenRequest{Kind: gcptoken.IDToken, Audience: "a"}, gcptoken.IDToken, nil},
		{"self-signed", TypeServiceAccount, &TokenRequest{SelfSigned: true, Audience: "a"}, gcptoken.AccessToken, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := creds[tt.credType].Resolve(tt.req)
			if got.Kind != tt.wantKind || !slices.Equal(got.Scopes, tt.wantScopes) {
				t.Errorf("got Kind %q, Scopes %q; want %q, %q", got.Kind, got.Scopes, tt.wantKind, tt.wantScopes)
			}
		})
	}
	// Resolve must not share the caller's slice.
	req := &TokenRequest{Scopes: []string{"s"}}
	creds[TypeServiceAccount].Resolve(req).Scopes[0] = "changed"
	if req.Scopes[0] != "s" {
		t.Errorf("got the caller's Scopes[0] = %q after Resolve; want it unchanged", req.Scopes[0])
	}
}

// TestSourceFor checks that a request reaches the source it names: the
// metadata server is asked for cloud-platform explicitly, an ID token
// carries its options, a self-signed JWT is signed locally.
func TestSourceFor(t *testing.T) {
	t.Parallel()
	queries := make(chan url.Values, 2)
	host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Query()
		if r.URL.Path == "/computeMetadata/v1/"+mdIdentityPath {
			w.Write([]byte(fakeJWT(t, map[string]any{"aud": "https://a", "exp": 2000000000})))
			return
		}
		w.Write([]byte(`{"access_token":"ya29.md","expires_in":3599,"token_type":"Bearer"}`))
	})
	creds := allKinds(t, closedURL(t), host)

	tp, err := creds[TypeComputeMetadata].SourceFor(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := (<-queries).Get("scopes"); got != DefaultScope {
		t.Errorf("got scopes = %q; want %q", got, DefaultScope)
	}

	tp, err = creds[TypeComputeMetadata].SourceFor(&TokenRequest{Kind: gcptoken.IDToken, Audience: "https://a",
		IDTokenOptions: IDTokenOptions{TokenFormat: TokenFormatStandard}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if q := <-queries; tok.Kind != gcptoken.IDToken || q.Get("format") != TokenFormatStandard || q.Get("audience") != "https://a" {
		t.Errorf("got a %q token for query %v; want an ID token for audience https://a, format standard", tok.Kind, q)
	}

	tp, err = creds[TypeServiceAccount].SourceFor(&TokenRequest{SelfSigned: true, Audience: "https://pubsub.googleapis.com/"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err = tp.Token(t.Context()) // no request: the token endpoint is closed
	if err != nil {
		t.Fatal(err)
	}
	if _, c := decodeAssertion(t, tok.Value); c["aud"] != "https://pubsub.googleapis.com/" {
		t.Errorf("got aud = %v; want the self-signed JWT's audience", c["aud"])
	}
}

func TestSourceForErrors(t *testing.T) {
	t.Parallel()
	creds := allKinds(t, closedURL(t), "127.0.0.1:1")
	tests := []struct {
		name     string
		credType string
		req      TokenRequest
		want     string
	}{
		{"unknown kind", TypeServiceAccount, TokenRequest{Kind: "refresh_token"}, `TokenRequest.Kind "refresh_token"`},
		{"self-signed ID token", TypeServiceAccount, TokenRequest{Kind: gcptoken.IDToken, SelfSigned: true, Audience: "a"}, "SelfSigned makes access tokens"},
		{"ID token with scopes", TypeServiceAccount, TokenRequest{Kind: gcptoken.IDToken, Audience: "a", Scopes: []string{"s"}}, "Scopes are for access tokens"},
		{"ID token without audience", TypeServiceAccount, TokenRequest{Kind: gcptoken.IDToken}, "needs an audience"},
		{"access token with audience", TypeServiceAccount, TokenRequest{Audience: "a"}, "Audience is for ID tokens"},
		{"self-signed without a key", TypeAuthorizedUser, TokenRequest{SelfSigned: true, Audience: "a"}, "needs a service-account key"},
		{"bad token format", TypeComputeMetadata, TokenRequest{Kind: gcptoken.IDToken, Audience: "a",
			IDTokenOptions: IDTokenOptions{TokenFormat: "compact"}}, "is not a format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := creds[tt.credType].SourceFor(&tt.req)
			wantErrContains(t, err, tt.want)
		})
	}
	if _, err := (&Credentials{}).ProviderFor(nil); err != errNotLoaded {
		t.Errorf("got %v from a zero Credentials; want errNotLoaded", err)
	}
}
