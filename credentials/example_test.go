package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// Detect finds Application Default Credentials. Their providers are cached:
// keep one and call Token for every use.
func ExampleDetect() {
	ctx := context.Background()
	creds, err := credentials.Detect(ctx, nil)
	if err != nil {
		log.Fatal(err) // lists every source tried and how to fix it
	}
	for _, s := range creds.Steps {
		fmt.Printf("%-32s used=%-5v %s\n", s.Source, s.Used, s.Detail)
	}
	tp, err := creds.AccessTokenProvider(nil) // nil: cloud-platform
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tp.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}

// On Compute Engine, Cloud Run and GKE the metadata server can put facts
// about the instance into ID tokens; other credentials cannot, and ignore
// the format options.
func ExampleCredentials_IDTokenProvider() {
	ctx := context.Background()
	creds, err := credentials.Detect(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	opts := &credentials.IDTokenOptions{TokenFormat: credentials.TokenFormatFull, Licenses: true}
	tp, err := creds.IDTokenProvider("https://my-service-abc123-uc.a.run.app", opts)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tp.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("audience", tok.Metadata[gcptoken.MetaAudience])
}

// A MetadataClient reads other facts about the instance.
func ExampleMetadataClient() {
	ctx := context.Background()
	md := credentials.NewMetadataClient("", nil) // 169.254.169.254, no proxy
	project, err := md.ProjectID(ctx)
	if errors.Is(err, credentials.ErrMetadataNotDefined) {
		log.Fatal("this metadata server has no project id")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("project", project)
}

// Impersonate acts as another service account through the IAM Credentials
// API; gcloud's --impersonate-service-account=a@…,b@…,target@… is a chain
// of two delegates and a target.
func ExampleImpersonate() {
	ctx := context.Background()
	source, err := credentials.Detect(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.Impersonate(source, &credentials.ImpersonateOptions{
		Target:    "deployer@my-project.iam.gserviceaccount.com",
		Delegates: []string{"hop@my-project.iam.gserviceaccount.com"},
		Lifetime:  30 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	tp, err := creds.IDTokenProvider("https://my-service-abc123-uc.a.run.app",
		&credentials.IDTokenOptions{IncludeEmail: true})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tp.Token(ctx)
	if err != nil {
		log.Fatal(err) // names the hop of the chain that IAM refused
	}
	fmt.Println("expires", tok.Expiry)
}

// WithSubject gets a Google Workspace user's token through domain-wide
// delegation, from a key or (through IAM signJwt) from impersonation.
func ExampleCredentials_WithSubject() {
	ctx := context.Background()
	sa, err := credentials.FromFile("key.json", nil)
	if err != nil {
		log.Fatal(err)
	}
	user, err := sa.WithSubject("alice@example.com")
	if err != nil {
		log.Fatal(err)
	}
	tp, err := user.AccessTokenProvider([]string{"https://www.googleapis.com/auth/gmail.readonly"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tp.Token(ctx); err != nil {
		log.Fatal(err)
	}
}

// A service-account key can sign its own access tokens for one API, with no
// request to a token endpoint.
func ExampleCredentials_SelfSignedJWTProvider() {
	sa, err := credentials.FromFile("key.json", nil)
	if err != nil {
		log.Fatal(err)
	}
	tp, err := sa.SelfSignedJWTProvider("https://pubsub.googleapis.com/", nil)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tp.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Authorization: Bearer", tok.Value[:10]+"…")
}
