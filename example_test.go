package gcptoken_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Calling a private Cloud Run service: an ID token whose audience is the
// service URL, cached and refreshed ahead of expiry. The fake Google stands
// in for the real one; with real credentials, use credentials.Detect.
func ExampleNewCachedProvider() {
	fake, err := fakegoogle.Start("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		log.Fatal(err)
	}

	creds, err := credentials.FromJSON(key, nil)
	if err != nil {
		log.Fatal(err)
	}
	service := fake.SampleServiceURL()
	src, err := creds.IDTokenProvider(service)
	if err != nil {
		log.Fatal(err)
	}
	tokens := gcptoken.NewCachedProvider(src, nil)

	ctx := context.Background()
	tok, err := tokens.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, service+"?start=1&end=3", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Value)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(tok.Kind, resp.Status)
	// Output: id_token 200 OK
}

// Using gcptoken credentials with code written for golang.org/x/oauth2.
func ExampleOAuth2TokenSource() {
	creds, err := credentials.Detect(context.Background(), nil)
	if err != nil {
		log.Print(err)
		return
	}
	src, err := creds.AccessTokenProvider([]string{"https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		log.Print(err)
		return
	}
	ts := gcptoken.OAuth2TokenSource(context.Background(), gcptoken.NewCachedProvider(src, nil))
	_ = ts // e.g. oauth2.NewClient(ctx, ts)
}
