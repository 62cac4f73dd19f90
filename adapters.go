package gcptoken

import (
	"context"

	"cloud.google.com/go/auth"
	"golang.org/x/oauth2"
)

// AuthTokenProvider adapts tp to cloud.google.com/go/auth's TokenProvider, so
// gcptoken credentials plug into Google's Go client libraries (for example
// through auth.NewCredentials). The scope and audience metadata travel along.
func AuthTokenProvider(tp TokenProvider) auth.TokenProvider {
	return authAdapter{tp}
}

type authAdapter struct{ tp TokenProvider }

func (a authAdapter) Token(ctx context.Context) (*auth.Token, error) {
	t, err := a.tp.Token(ctx)
	if err != nil {
		return nil, err
	}
	var md map[string]any
	if len(t.Metadata) > 0 {
		md = make(map[string]any, len(t.Metadata))
		for k, v := range t.Metadata {
			md[k] = v
		}
	}
	return &auth.Token{Value: t.Value, Type: t.TokenType(), Expiry: t.Expiry, Metadata: md}, nil
}

// OAuth2TokenSource adapts tp to golang.org/x/oauth2's TokenSource, for code
// built on oauth2.NewClient. TokenSource has no context parameter, so every
// call uses ctx (usually context.Background()); bound it with deadlines in
// the HTTP client instead.
func OAuth2TokenSource(ctx context.Context, tp TokenProvider) oauth2.TokenSource {
	return oauth2Adapter{ctx: ctx, tp: tp}
}

type oauth2Adapter struct {
	ctx context.Context
	tp  TokenProvider
}

func (a oauth2Adapter) Token() (*oauth2.Token, error) {
	t, err := a.tp.Token(a.ctx)
	if err != nil {
		return nil, err
	}
	o := &oauth2.Token{AccessToken: t.Value, TokenType: t.TokenType(), Expiry: t.Expiry}
	if len(t.Metadata) > 0 {
		extra := make(map[string]any, len(t.Metadata))
		for k, v := range t.Metadata {
			extra[k] = v
		}
		o = o.WithExtra(extra)
	}
	return o, nil
}

// FromAuth adapts a cloud.google.com/go/auth TokenProvider (for example one
// from Google's own credential detection) to gcptoken's interface, tagging
// the tokens with kind.
func FromAuth(tp auth.TokenProvider, kind Kind) TokenProvider {
	return TokenProviderFunc(func(ctx context.Context) (*Token, error) {
		t, err := tp.Token(ctx)
		if err != nil {
			return nil, err
		}
		out := &Token{Value: t.Value, Type: t.Type, Kind: kind, Expiry: t.Expiry}
		for _, k := range []string{MetaScope, MetaIDToken} {
			if v := t.MetadataString(k); v != "" {
				if out.Metadata == nil {
					out.Metadata = map[string]string{}
				}
				out.Metadata[k] = v
			}
		}
		return out, nil
	})
}

// FromOAuth2 adapts an oauth2.TokenSource to gcptoken's interface. The
// source's own context handling applies; ctx is only checked before the call.
func FromOAuth2(ts oauth2.TokenSource, kind Kind) TokenProvider {
	return TokenProviderFunc(func(ctx context.Context) (*Token, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := ts.Token()
		if err != nil {
			return nil, err
		}
		out := &Token{Value: t.AccessToken, Type: t.Type(), Kind: kind, Expiry: t.Expiry}
		if s, ok := t.Extra(MetaScope).(string); ok && s != "" {
			out.Metadata = map[string]string{MetaScope: s}
		}
		return out, nil
	})
}
