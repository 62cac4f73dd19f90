package fakegoogle

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cloud.google.com/go/auth"
	"golang.org/x/oauth2/google"
)

// These tests use Google's own Go libraries as clients: if they accept the
// fake's answers, so should code that works against Google. They run on
// 2048-bit keys, the size real keys have.

func TestGoAuth2LO(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{RSAKeyBits: 2048})
	kf, _ := saKey(t, f, DefaultServiceAccount)
	ctx := context.Background()

	t.Run("access token", func(t *testing.T) {
		t.Parallel()
		tp, err := auth.New2LOTokenProvider(&auth.Options2LO{
			Email: kf.ClientEmail, PrivateKey: []byte(kf.PrivateKey), PrivateKeyID: kf.PrivateKeyID,
			TokenURL: kf.TokenURI, Scopes: []string{"https://www.googleapis.com/auth/cloud-platform", "email"},
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tp.Token(ctx)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if !strings.HasPrefix(tok.Value, "ya29.c.") || tok.Type != "Bearer" || tok.Expiry.IsZero() {
			t.Errorf("token = %.12q… type %q expiry %v; want ya29.c.… Bearer with expiry", tok.Value, tok.Type, tok.Expiry)
		}
		m := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok.Value), nil).json(t)
		if got := m["email"]; got != DefaultServiceAccount {
			t.Errorf("tokeninfo email = %q; want %q", got, DefaultServiceAccount)
		}
	})

	t.Run("ID token for the sample service", func(t *testing.T) {
		t.Parallel()
		tp, err := auth.New2LOTokenProvider(&auth.Options2LO{
			Email: kf.ClientEmail, PrivateKey: []byte(kf.PrivateKey), PrivateKeyID: kf.PrivateKeyID,
			TokenURL: kf.TokenURI, UseIDToken: true,
			PrivateClaims: map[string]any{"target_audience": f.SampleServiceURL()},
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tp.Token(ctx)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		r := get(t, f.SampleServiceURL()+"?start=1&end=3", http.Header{"Authorization": {"Bearer " + tok.Value}})
		if r.status != http.StatusOK {
			t.Fatalf("sample service: status %d body %s", r.status, r.body)
		}
		if got := r.json(t)["caller"]; got != DefaultServiceAccount {
			t.Errorf("caller = %q; want %q", got, DefaultServiceAccount)
		}
	})
}

func TestGoAuth3LO(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{RSAKeyBits: 2048})
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"openid", "email", "https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		t.Fatal(err)
	}
	for _, style := range []auth.Style{auth.StyleInParams, auth.StyleInHeader} {
		tp, err := auth.New3LOTokenProvider(&auth.Options3LO{
			ClientID: DefaultClientID, ClientSecret: DefaultClientSecret, RefreshToken: rt,
			AuthURL: f.URL + "/o/oauth2/auth", TokenURL: f.URL + "/token", AuthStyle: style,
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tp.Token(context.Background())
		if err != nil {
			t.Fatalf("style %v: Token: %v", style, err)
		}
		if !strings.HasPrefix(tok.Value, "ya29.") || tok.Expiry.IsZero() {
			t.Errorf("style %v: token %.8q… expiry %v; want ya29.… with expiry", style, tok.Value, tok.Expiry)
		}
		if idt, _ := tok.Metadata["id_token"].(string); idt == "" {
			t.Errorf("style %v: no id_token in token metadata", style)
		}
	}
}

func TestXOAuth2Google(t *testing.T) {
	t.Parallel()
	f := newFake(t, &Options{RSAKeyBits: 2048})
	ctx := context.Background()

	keyJSON, err := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, keyJSON, google.ServiceAccount, "https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		t.Fatalf("service account credentials: %v", err)
	}
	tok, err := creds.TokenSource.Token()
	if err != nil {
		t.Fatalf("service account token: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ya29.c.") {
		t.Errorf("access token = %.8q…; want ya29.c.…", tok.AccessToken)
	}
	if creds.ProjectID != DefaultProjectID {
		t.Errorf("project = %q; want %q", creds.ProjectID, DefaultProjectID)
	}

	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		t.Fatal(err)
	}
	userJSON, err := f.AuthorizedUserJSON(DefaultClientID, rt)
	if err != nil {
		t.Fatal(err)
	}
	creds, err = google.CredentialsFromJSONWithType(ctx, userJSON, google.AuthorizedUser)
	if err != nil {
		t.Fatalf("authorized_user credentials: %v", err)
	}
	tok, err = creds.TokenSource.Token()
	if err != nil {
		t.Fatalf("authorized_user token: %v", err)
	}
	if got := tok.Extra("scope"); got != "https://www.googleapis.com/auth/cloud-platform" {
		t.Errorf("scope = %q; want cloud-platform", got)
	}
	var file map[string]any
	if err := json.Unmarshal(userJSON, &file); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"type": "authorized_user", "client_id": DefaultClientID, "client_secret": DefaultClientSecret,
		"refresh_token": rt, "token_uri": f.URL + "/token", "account": DefaultUser, "universe_domain": "googleapis.com",
	} {
		if got := file[k]; got != want {
			t.Errorf("authorized_user %s = %q; want %q", k, got, want)
		}
	}
}
