package gcptoken_test

// The everyday tasks in the fewest lines. Each has a counterpart written
// with Google's libraries in google_tasks_test.go; TestTaskLineCounts
// counts both.

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"cloud.google.com/go/auth/httptransport"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/idtoken"
)

// An access token of Application Default Credentials (cloud-platform
// scope). Call it for every use: it is cached and refreshed ahead of
// expiry.
func Example_accessTokenFromADC() {
	tok, err := credentials.AccessToken(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

// An ID token for a private Cloud Run service: its audience is the
// service's URL.
func Example_idTokenForCloudRun() {
	tok, err := credentials.IDToken(context.Background(), "https://hello-abc123-uc.a.run.app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

// An HTTP client that calls a private Cloud Run service with ID tokens,
// sent only to that service's host.
func Example_httpClientForCloudRun() {
	client, err := idtoken.NewClient(context.Background(), "https://hello-abc123-uc.a.run.app")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get("https://hello-abc123-uc.a.run.app/greet")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}

// A service that lets in only callers with an ID token for it, as Cloud
// Run's IAM check does; a refused caller learns only "unauthenticated".
func Example_verifyIDTokenInAHandler() {
	v, err := idtoken.NewVerifier(&idtoken.Options{Audiences: []string{"https://hello-abc123-uc.a.run.app"}})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/", idtoken.Middleware(v, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := idtoken.ClaimsFromContext(r.Context())
		fmt.Fprintln(w, "hello", claims.Email)
	})))
}

// Acting as another service account (the caller needs the Service Account
// Token Creator role on it).
func Example_impersonate() {
	creds, err := credentials.Detect(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	sa, err := credentials.Impersonate(creds, &credentials.ImpersonateOptions{Target: "deployer@my-project.iam.gserviceaccount.com"})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := sa.AccessToken(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

// Any gcptoken credential in a Google Cloud client library: AuthCredentials
// carries the project, quota project and universe along with the tokens.
// A client library takes it as option.WithAuthCredentials(ac); this
// example gives it to the transport those libraries are built on.
func Example_cloudClientLibrary() {
	creds, err := credentials.Detect(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	ac, err := creds.AuthCredentials(nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: ac})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get("https://storage.googleapis.com/storage/v1/b?project=my-project")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
}
