package transport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/transport"
)

// fakeCredentials starts a fake Google and returns it with service-account
// credentials it issued. Real code finds credentials with
// credentials.Detect.
func fakeCredentials() (*fakegoogle.Running, *credentials.Credentials) {
	fake, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.FromJSON(key, nil)
	if err != nil {
		log.Fatal(err)
	}
	return fake, creds
}

// sampleAnswer is what the fake's sample service returns.
type sampleAnswer struct {
	Range  []int  `json:"range"`
	Caller string `json:"caller"`
}

// Send ID tokens from a TokenProvider: here a service-account key's, for the
// fake's sample service, which stands in for a private Cloud Run service
// (its URL is also its audience). credentials.Credentials.NewClient does
// the same in one call.
func ExampleNewClient() {
	fake, creds := fakeCredentials()
	defer fake.Close()
	ctx := context.Background()

	service := fake.SampleServiceURL() // e.g. "https://svc-abc-uc.a.run.app"
	tokens, err := creds.ProviderFor(&credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: service})
	if err != nil {
		log.Fatal(err)
	}
	client, err := transport.NewClient(&transport.Options{TokenProvider: tokens, Kind: gcptoken.IDToken, Audience: service})
	if err != nil {
		log.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, service+"?start=1&end=3", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var got sampleAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, got.Range, got.Caller)
	// Output: 200 OK [1 2 3] demo-sa@fake-project.iam.gserviceaccount.com
}

// Put the ID token in X-Serverless-Authorization, which Cloud Run reads
// first, so that Authorization carries the application's own credentials
// through to it.
func ExampleNewTransport() {
	fake, creds := fakeCredentials()
	defer fake.Close()
	ctx := context.Background()

	service := fake.SampleServiceURL()
	tokens, err := creds.ProviderFor(&credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: service})
	if err != nil {
		log.Fatal(err)
	}
	tr, err := transport.NewTransport(&transport.Options{
		TokenProvider: tokens,
		Kind:          gcptoken.IDToken,
		Audience:      service,
		Header:        transport.HeaderServerlessAuthorization,
	})
	if err != nil {
		log.Fatal(err)
	}
	client := tr.Client()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, service+"?start=4&end=5", nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer app-session") // for the app, not for Google
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var got sampleAnswer
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, got.Range, got.Caller)
	// Output: 200 OK [4 5] demo-sa@fake-project.iam.gserviceaccount.com
}
