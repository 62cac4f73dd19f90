package metadataserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/compute/metadata"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// toHost sends every request to one host: Google's metadata client takes its
// host only from GCE_METADATA_HOST (process-wide), so the test redirects its
// transport instead and can run in parallel.
type toHost struct{ host string }

func (h toHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Host, r.Host = h.host, h.host
	return http.DefaultTransport.RoundTrip(r)
}

// TestEndToEnd: a service-account key minted by fakegoogle, served by the
// metadata server, read by Google's own Go metadata client and by gcptoken's
// metadata-server credential.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(&Options{
		Source:              FromCredentials(creds),
		ServiceAccountEmail: fakegoogle.DefaultServiceAccount,
		ProjectID:           fakegoogle.DefaultProjectID,
		InstanceAttributes:  map[string]string{"env": "e2e"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	host := strings.TrimPrefix(ts.URL, "http://")
	ctx := t.Context()

	t.Run("Google's Go client", func(t *testing.T) {
		c := metadata.NewWithOptions(&metadata.Options{Client: &http.Client{Transport: toHost{host}}})
		str := func(f func(context.Context) (string, error)) string {
			t.Helper()
			v, err := f(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		checks := []struct{ name, got, want string }{
			{"Email", str(func(ctx context.Context) (string, error) { return c.EmailWithContext(ctx, "") }), fakegoogle.DefaultServiceAccount},
			{"ProjectID", str(c.ProjectIDWithContext), fakegoogle.DefaultProjectID},
			{"Zone", str(c.ZoneWithContext), "us-central1-a"},
			{"InstanceName", str(c.InstanceNameWithContext), "gcptoken-vm"},
			{"Hostname", str(c.HostnameWithContext), "gcptoken-vm.c." + fakegoogle.DefaultProjectID + ".internal"},
			{"attribute", str(func(ctx context.Context) (string, error) { return c.InstanceAttributeValueWithContext(ctx, "env") }), "e2e"},
			{"universe", str(func(ctx context.Context) (string, error) { return c.GetWithContext(ctx, "universe/universe-domain") }), "googleapis.com"},
		}
		for _, ck := range checks {
			if ck.got != ck.want {
				t.Errorf("got %s = %q; want %q", ck.name, ck.got, ck.want)
			}
		}
		if n := str(c.NumericProjectIDWithContext); len(n) != 12 {
			t.Errorf("got NumericProjectID = %q; want 12 digits", n)
		}
		if id := str(c.InstanceIDWithContext); len(id) != 19 {
			t.Errorf("got InstanceID = %q; want 19 digits", id)
		}
		scopes, err := c.ScopesWithContext(ctx, "default")
		if err != nil || !slices.Equal(scopes, []string{DefaultScope}) {
			t.Errorf("got Scopes = %q, %v; want [%s]", scopes, err, DefaultScope)
		}
		if _, err := c.GetWithContext(ctx, "instance/nope"); !errors.As(err, new(metadata.NotDefinedError)) {
			t.Errorf("got %v for an unknown key; want NotDefinedError", err)
		}

		var tokens []string
		for range 3 {
			body := str(func(ctx context.Context) (string, error) {
				return c.GetWithContext(ctx, "instance/service-accounts/default/token")
			})
			var tr struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.AccessToken == "" || tr.ExpiresIn < 3000 {
				t.Fatalf("got token response %q (%v); want a token with about an hour left", body, err)
			}
			tokens = append(tokens, tr.AccessToken)
		}
		if tokens[0] != tokens[2] {
			t.Errorf("got different tokens on repeated requests; want the cached one")
		}

		aud := "https://svc.example.run.app"
		jwt := str(func(ctx context.Context) (string, error) {
			return c.GetWithContext(ctx, "instance/service-accounts/default/identity?format=full&audience="+aud)
		})
		if got := claim(t, jwt, "aud"); got != aud {
			t.Errorf("got aud = %q; want %q", got, aud)
		}

		// Subscribe reads the ETag and long-polls with last_etag.
		errStop := errors.New("stop")
		var seen []string
		err = c.SubscribeWithContext(ctx, "project/project-id", func(_ context.Context, v string, ok bool) error {
			seen = append(seen, v)
			return errStop
		})
		if !errors.Is(err, errStop) || len(seen) != 1 || seen[0] != fakegoogle.DefaultProjectID {
			t.Errorf("got Subscribe = %v with %q; want one value %q", err, seen, fakegoogle.DefaultProjectID)
		}
	})

	t.Run("gcptoken's metadata credential", func(t *testing.T) {
		mc, err := credentials.Detect(ctx, &credentials.Options{
			MetadataHost: host,
			Getenv:       func(string) string { return "" },
			HomeDir:      t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if mc.Type != credentials.TypeComputeMetadata {
			t.Fatalf("got credential type %q; want %q", mc.Type, credentials.TypeComputeMetadata)
		}
		at, err := mc.AccessTokenProvider(nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := at.Token(ctx)
		if err != nil || tok.Value == "" || tok.Expiry.IsZero() {
			t.Fatalf("got access token %v, %v; want one with an expiry", tok, err)
		}
		idp, err := mc.IDTokenProvider("https://aud.example", &credentials.IDTokenOptions{TokenFormat: credentials.TokenFormatFull})
		if err != nil {
			t.Fatal(err)
		}
		id, err := idp.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := claim(t, id.Value, "aud"); got != "https://aud.example" {
			t.Errorf("got aud = %q; want %q", got, "https://aud.example")
		}
	})

	// Every token above came from one upstream fetch per key.
	if got := fake.RequestCount("/token"); got != 3 {
		t.Errorf("got %d requests to the fake token endpoint; want 3 (one access token, two audiences)", got)
	}
}

func claim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("got %q; want a JWT", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	v, _ := claims[name].(string)
	return v
}
