package transport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/transport"
)

// fakeCredentials starts a fake Google and returns it with service-account
// credentials it issued. Real code leaves Options.Credentials nil, and
// Application Default Credentials are used.
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

// Call a private Cloud Run service, as Go's idtoken.NewClient(ctx, audience)
// followed by client.Get(url) does. The fake's sample service stands in for
// the service; its URL is also its audience.
func ExampleNewIDTokenClient() {
	fake, creds := fakeCredentials()
	defer fake.Close()
	ctx := context.Background()

	audience := fake.SampleServiceURL() // e.g. "https://svc-abc-uc.a.run.app"
	client, err := transport.NewIDTokenClient(ctx, audience, &transport.Options{Credentials: creds})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get(audience + "?start=1&end=3")
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

// Call a Google API with an access token. The fake's tokeninfo endpoint
// stands in for the API: it reads the token from the Authorization header
// and says what it grants. Against Google, AllowedHosts can stay empty: the
// default lets the token go to *.googleapis.com and nowhere else.
func ExampleNewClient() {
	fake, creds := fakeCredentials()
	defer fake.Close()
	ctx := context.Background()

	u, _ := url.Parse(fake.URL)
	client, err := transport.NewClient(ctx, &transport.Options{
		Credentials:  creds,
		Scopes:       []string{"https://www.googleapis.com/auth/cloud-platform"},
		AllowedHosts: []string{u.Host}, // only because the "API" is local
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get(fake.URL + "/oauth2/v3/tokeninfo")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Scope string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, info.Scope)
	// Output: 200 OK https://www.googleapis.com/auth/cloud-platform
}

// Put the ID token in X-Serverless-Authorization, which Cloud Run reads
// first, so that Authorization carries the application's own credentials
// through to it.
func ExampleNewTransport() {
	fake, creds := fakeCredentials()
	defer fake.Close()
	ctx := context.Background()

	service := fake.SampleServiceURL()
	tr, err := transport.NewTransport(ctx, &transport.Options{
		Credentials: creds,
		Kind:        gcptoken.IDToken,
		Audience:    service,
		Header:      transport.HeaderServerlessAuthorization,
	})
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: tr}

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
