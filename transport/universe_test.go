package transport_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/transport"
)

const testUniverse = "universe.test"

// TestUniverseDomainHosts: the universe a Transport is configured for
// decides where access tokens may go by default. (credentials'
// NewClient tests the refusal of credentials of another universe.)
func TestUniverseDomainHosts(t *testing.T) {
	t.Parallel()
	base := &stubBase{}
	client, err := transport.NewClient(&transport.Options{
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

	if _, err := transport.NewTransport(&transport.Options{TokenProvider: &fakeTokens{}, UniverseDomain: "https://x.test"}); err == nil ||
		!strings.Contains(err.Error(), "Options.UniverseDomain") {
		t.Errorf("a universe domain with a scheme: got %v; want Options.UniverseDomain refused", err)
	}
}

// TestUniverseDomainFromEnvironment: without Options.UniverseDomain,
// GOOGLE_CLOUD_UNIVERSE_DOMAIN decides, as in Google's Go transports. (Not
// parallel: it sets the variable.)
func TestUniverseDomainFromEnvironment(t *testing.T) {
	t.Setenv("GOOGLE_CLOUD_UNIVERSE_DOMAIN", testUniverse)
	base := &stubBase{}
	client, err := transport.NewClient(&transport.Options{TokenProvider: &fakeTokens{}, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get("https://pubsub." + testUniverse + "/")
	if err != nil {
		t.Fatalf("GET in %s: %v; want the token sent", testUniverse, err)
	}
	resp.Body.Close()
	if _, err := client.Get("https://pubsub.googleapis.com/"); !errors.Is(err, transport.ErrNotAllowed) {
		t.Errorf("GET on googleapis.com: got %v; want ErrNotAllowed", err)
	}
}
