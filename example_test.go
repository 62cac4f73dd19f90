package gcptoken_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// A plain source wrapped in the cache with options of one's own: the
// providers of package credentials are cached already, with the defaults.
// The fake Google stands in for the real one.
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
	src, err := creds.IDTokenSource(service, nil) // plain: one request per Token call
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := gcptoken.NewCachedProvider(src, &gcptoken.CacheOptions{RefreshBefore: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}

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
	tokens, err := creds.AccessTokenProvider(nil) // cached
	if err != nil {
		log.Print(err)
		return
	}
	ts := gcptoken.OAuth2TokenSource(context.Background(), tokens)
	_ = ts // e.g. oauth2.NewClient(ctx, ts)
}
