package fakegoogle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"cloud.google.com/go/auth/credentials"
	"golang.org/x/oauth2/google"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Start a fake, hand its service-account key file to a client, and get an
// access token from it, all offline.
func ExampleStart() {
	fake, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	keyJSON, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := google.CredentialsFromJSONWithType(context.Background(), keyJSON, google.ServiceAccount,
		"https://www.googleapis.com/auth/cloud-platform")
	if err != nil {
		log.Fatal(err)
	}
	tok, err := creds.TokenSource.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.AccessToken[:7], tok.TokenType)
	// Output: ya29.c. Bearer
}

// Mount the fake on an httptest server and call the protected sample
// service with an ID token for its URL.
func ExampleServer_SampleServiceURL() {
	s, err := fakegoogle.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	s.SetBaseURL(ts.URL)

	// Without a token the service refuses, and says why (in JSON, with
	// what it expects).
	resp, err := http.Post(s.SampleServiceURL(), "application/json", strings.NewReader(`{"start": 1, "end": 3}`))
	if err != nil {
		log.Fatal(err)
	}
	var refusal struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&refusal)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	fmt.Println(refusal.Error)
	// Output:
	// 401 Bearer
	// fakegoogle sample service: missing token: send an ID token as "Authorization: Bearer <token>"
}

// Impersonate DefaultTargetServiceAccount with the default service
// account's key, the way `gcloud --impersonate-service-account` ADC files
// do: Google's Go library follows the file's service_account_impersonation_url
// to the fake's IAM Credentials API.
func ExampleServer_ImpersonatedServiceAccountJSON() {
	fake, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	source, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		log.Fatal(err)
	}
	file, err := fake.ImpersonatedServiceAccountJSON(source, fakegoogle.DefaultTargetServiceAccount, nil)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.NewCredentialsFromJSON(credentials.ImpersonatedServiceAccount, file,
		&credentials.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Value[:7], tok.Type)
	// Output: ya29.c. Bearer
}
