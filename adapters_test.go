package gcptoken

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestAdaptersRoundTrip(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	src := TokenProviderFunc(func(context.Context) (*Token, error) {
		return &Token{Value: "v", Kind: AccessToken, Expiry: exp, Metadata: map[string]string{MetaScope: "s1 s2"}}, nil
	})

	at, err := AuthTokenProvider(src).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if at.Value != "v" || at.Type != "Bearer" || !at.Expiry.Equal(exp) || at.MetadataString(MetaScope) != "s1 s2" {
		t.Errorf("auth adapter: got %+v", at)
	}
	back, err := FromAuth(AuthTokenProvider(src), AccessToken).Token(context.Background())
	if err != nil || back.Value != "v" || back.Metadata[MetaScope] != "s1 s2" {
		t.Errorf("FromAuth: got %+v, %v", back, err)
	}

	ot, err := OAuth2TokenSource(context.Background(), src).Token()
	if err != nil {
		t.Fatal(err)
	}
	if ot.AccessToken != "v" || ot.Type() != "Bearer" || !ot.Expiry.Equal(exp) || ot.Extra(MetaScope) != "s1 s2" {
		t.Errorf("oauth2 adapter: got %+v", ot)
	}
	back2, err := FromOAuth2(oauth2.StaticTokenSource(ot), AccessToken).Token(context.Background())
	if err != nil || back2.Value != "v" || !back2.Expiry.Equal(exp) {
		t.Errorf("FromOAuth2: got %+v, %v", back2, err)
	}
}
