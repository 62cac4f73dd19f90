package idtoken_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/gcptoken/gcptoken/idtoken"
)

// A service checks the ID tokens its callers send, for its own URL.
func ExampleNewVerifier() {
	v, err := idtoken.NewVerifier(&idtoken.Options{
		Audiences: []string{"https://my-service-abc123-uc.a.run.app"},
	})
	if err != nil {
		log.Fatal(err)
	}
	var token string // from the request
	claims, err := v.Verify(context.Background(), token)
	if err != nil {
		switch idtoken.ReasonOf(err) {
		case idtoken.ReasonKeySet:
			log.Printf("cannot check tokens right now: %v", err) // Google's keys unreachable
		default:
			log.Printf("token rejected: %v", err)
		}
		return
	}
	fmt.Println("caller:", claims.Principal())
}

// Protect a handler like a private Cloud Run service, letting in one
// service account only.
func ExampleMiddleware() {
	v, err := idtoken.NewVerifier(&idtoken.Options{Audiences: []string{"https://my-service.example.com"}})
	if err != nil {
		log.Fatal(err)
	}
	protect := idtoken.Middleware(v, &idtoken.MiddlewareOptions{
		AllowedEmails: []string{"scheduler@my-project.iam.gserviceaccount.com"},
	})
	http.Handle("/jobs/run", protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := idtoken.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "started by %s\n", c.Email)
	})))
}

// Check the assertion Identity-Aware Proxy adds to each request.
func ExampleNewIAPVerifier() {
	v, err := idtoken.NewIAPVerifier(&idtoken.Options{
		Audiences: []string{"/projects/123456789/global/backendServices/987654321"},
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = idtoken.Middleware(v, &idtoken.MiddlewareOptions{TokenHeader: "X-Goog-IAP-JWT-Assertion"})
}
