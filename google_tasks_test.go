package gcptoken_test

// The tasks of example_tasks_test.go written with Google's own Go
// libraries, compiled with the tests so that the comparison stays honest.
// They use cloud.google.com/go/auth (already a dependency): the older
// google.golang.org/api/idtoken and google.golang.org/api/option would add
// the module cloud.google.com/go/auth/oauth2adapt to go.mod.

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"

	gcreds "cloud.google.com/go/auth/credentials"
	gidtoken "cloud.google.com/go/auth/credentials/idtoken"
	"cloud.google.com/go/auth/credentials/impersonate"
	"cloud.google.com/go/auth/httptransport"
)

func googleAccessTokenFromADC() {
	creds, err := gcreds.DetectDefault(&gcreds.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

func googleIDTokenForCloudRun() {
	creds, err := gidtoken.NewCredentials(&gidtoken.Options{Audience: "https://hello-abc123-uc.a.run.app"})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

func googleHTTPClientForCloudRun() {
	creds, err := gidtoken.NewCredentials(&gidtoken.Options{Audience: "https://hello-abc123-uc.a.run.app"})
	if err != nil {
		log.Fatal(err)
	}
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: creds})
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

func googleVerifyIDTokenInAHandler() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		payload, err := gidtoken.Validate(r.Context(), tok, "https://hello-abc123-uc.a.run.app")
		if err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, "hello", payload.Claims["email"])
	})
}

func googleImpersonate() {
	creds, err := impersonate.NewCredentials(&impersonate.CredentialsOptions{
		TargetPrincipal: "deployer@my-project.iam.gserviceaccount.com",
		Scopes:          []string{"https://www.googleapis.com/auth/cloud-platform"},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

func googleCloudClientLibrary() {
	creds, err := gcreds.DetectDefault(&gcreds.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		log.Fatal(err)
	}
	client, err := httptransport.NewClient(&httptransport.Options{Credentials: creds})
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
