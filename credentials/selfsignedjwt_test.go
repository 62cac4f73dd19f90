package credentials

import (
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

func TestSelfSignedJWT(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     func() map[string]any
		audience string
		scopes   []string
		wantKid  any // nil: no kid
	}{
		{name: "audience", file: func() map[string]any { return saFile(t, closedURL(t)) }, audience: "https://pubsub.googleapis.com/", wantKid: testKeyID},
		{name: "scopes", file: func() map[string]any { return saFile(t, closedURL(t)) }, scopes: []string{scopeCP, "https://www.googleapis.com/auth/pubsub"}, wantKid: testKeyID},
		{name: "PKCS#1 key without key id", file: func() map[string]any {
			m := saFile(t, closedURL(t))
			m["private_key"] = pkcs1PEM()
			delete(m, "private_key_id")
			return m
		}, audience: "https://storage.googleapis.com/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The token URL is closed: self-signed JWTs never touch the network.
			c, err := FromJSON(mustJSON(t, tt.file()), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			tp, err := c.SelfSignedJWTSource(tt.audience, tt.scopes)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Unix()
			tok, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			h, cl := decodeAssertion(t, tok.Value) // verifies RS256 with the public key
			if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] != tt.wantKid {
				t.Errorf("got header %v; want alg RS256, typ JWT, kid %v", h, tt.wantKid)
			}
			if cl["iss"] != testEmail || cl["sub"] != testEmail {
				t.Errorf("got iss %v, sub %v; want both %q", cl["iss"], cl["sub"], testEmail)
			}
			iat, _ := cl["iat"].(float64)
			exp, _ := cl["exp"].(float64)
			if int64(iat) < before || int64(iat) > time.Now().Unix() || exp != iat+3600 {
				t.Errorf("got iat %v, exp %v; want now and now+3600", iat, exp)
			}
			if tt.audience != "" {
				if _, ok := cl["scope"]; ok || cl["aud"] != tt.audience {
					t.Errorf("got aud %v, scope %v; want aud %q and no scope", cl["aud"], cl["scope"], tt.audience)
				}
			} else {
				if _, ok := cl["aud"]; ok || cl["scope"] != strings.Join(tt.scopes, " ") {
					t.Errorf("got aud %v, scope %v; want scope %q and no aud", cl["aud"], cl["scope"], strings.Join(tt.scopes, " "))
				}
				if tok.Metadata[gcptoken.MetaScope] != strings.Join(tt.scopes, " ") {
					t.Errorf("got Metadata[scope] = %q; want the scopes", tok.Metadata[gcptoken.MetaScope])
				}
			}
			if len(cl) != 5 {
				t.Errorf("got claims %v; want exactly iss, sub, aud or scope, iat, exp", cl)
			}
			if tok.Kind != gcptoken.AccessToken || tok.TokenType() != "Bearer" || tok.Expiry.Unix() != int64(exp) {
				t.Errorf("got kind %q, type %q, expiry %v; want access_token, Bearer, exp", tok.Kind, tok.TokenType(), tok.Expiry)
			}
			// Each call signs a new token.
			time.Sleep(1100 * time.Millisecond)
			again, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if again.Value == tok.Value || !again.Expiry.After(tok.Expiry) {
				t.Errorf("got the same token twice; want a new one per call")
			}
		})
	}
}

func TestSelfSignedJWTErrors(t *testing.T) {
	t.Parallel()
	sa, err := FromJSON(mustJSON(t, saFile(t, "")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	au, err := FromJSON(mustJSON(t, auFile("")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Impersonate(sa, &ImpersonateOptions{Target: targetSA})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		c        *Credentials
		audience string
		scopes   []string
		want     string
	}{
		{"both", sa, "https://pubsub.googleapis.com/", []string{scopeCP}, "an audience or scopes, not both"},
		{"neither", sa, "", nil, "needs an audience (e.g. https://pubsub.googleapis.com/) or scopes"},
		{"empty scope", sa, "", []string{""}, "empty scope"},
		{"authorized_user", au, "https://pubsub.googleapis.com/", nil, "a self-signed JWT needs a service-account key; authorized_user credentials have none"},
		{"impersonated", imp, "https://pubsub.googleapis.com/", nil, "impersonated_service_account credentials have none"},
		{"not loaded", &Credentials{}, "x", nil, "must come from Detect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.c.SelfSignedJWTSource(tt.audience, tt.scopes)
			wantErrContains(t, err, tt.want)
		})
	}
}
