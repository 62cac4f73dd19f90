package transport_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/transport"
)

const testUniverse = "universe.test"

// universeCreds returns the key credentials of a fake of testUniverse.
func universeCreds(t *testing.T) *credentials.Credentials {
	t.Helper()
	fake, err := fakegoogle.New(&fakegoogle.Options{RSAKeyBits: 1024, UniverseDomain: testUniverse})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	fake.SetBaseURL(ts.URL)
	return saCreds(t, fake, nil)
}

// TestUniverseMismatchRefused: a Transport configured for one universe
// (by default googleapis.com) refuses credentials of another, with the
// words of Google's Go transport; configured for theirs, it sends their
// self-signed JWTs to that universe's hosts only. (Not parallel: it sets
// GOOGLE_CLOUD_UNIVERSE_DOMAIN.)
func TestUniverseMismatchRefused(t *testing.T) {
	creds := universeCreds(t)
	_, err := transport.NewTransport(t.Context(), &transport.Options{Credentials: creds})
	want := `the configured universe domain ("googleapis.com") does not match the universe domain found in the credentials ("universe.test")`
	var me *credentials.UniverseMismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), want) || !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Fatalf("NewTransport for googleapis.com with a %s key: got %v; want %q", testUniverse, err, want)
	}

	for name, opts := range map[string]*transport.Options{
		"Options.UniverseDomain": {Credentials: creds, UniverseDomain: testUniverse},
		"the environment":        {Credentials: creds},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "the environment" {
				t.Setenv(credentials.EnvUniverseDomain, testUniverse)
			}
			base := &stubBase{}
			opts.Base = base
			client, err := transport.NewClient(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Get("https://cloudresourcemanager." + testUniverse + "/v1/projects/fake-project")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			auth := base.requests()[0].Header.Get("Authorization")
			if c := claims(t, auth); c["iss"] != fakegoogle.DefaultServiceAccount || c["scope"] != transport.DefaultScope {
				t.Errorf("sent %v; want the key's self-signed JWT for %s", c, transport.DefaultScope)
			}
			if _, err := client.Get("https://cloudresourcemanager.googleapis.com/v1/projects/fake-project"); !errors.Is(err, transport.ErrNotAllowed) {
				t.Errorf("GET on googleapis.com: got %v; want ErrNotAllowed (the token belongs to %s)", err, testUniverse)
			}
		})
	}

	// A TokenProvider has no universe: the option sets the default hosts.
	base := &stubBase{}
	client, err := transport.NewClient(t.Context(), &transport.Options{
		TokenProvider: &fakeTokens{kind: gcptoken.AccessToken, value: "tok"}, UniverseDomain: testUniverse, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get("https://pubsub.googleapis.com/"); !errors.Is(err, transport.ErrNotAllowed) {
		t.Errorf("TokenProvider in %s, GET on googleapis.com: got %v; want ErrNotAllowed", testUniverse, err)
	}
	resp, err := client.Get("https://pubsub." + testUniverse + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := base.requests()[0].Header.Get("Authorization"); got != "Bearer tok" {
		t.Errorf("sent Authorization %q; want the provider's token", got)
	}

	if _, err := transport.NewTransport(t.Context(), &transport.Options{TokenProvider: &fakeTokens{}, UniverseDomain: "https://x.test"}); err == nil ||
		!strings.Contains(err.Error(), "Options.UniverseDomain") {
		t.Errorf("a universe domain with a scheme: got %v; want Options.UniverseDomain refused", err)
	}
}
