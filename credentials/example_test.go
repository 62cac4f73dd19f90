package credentials_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gcptoken/gcptoken/credentials"
)

// Detect finds Application Default Credentials; a provider from them makes
// one request per Token call (wrap it with the root package's cache).
func ExampleDetect() {
	ctx := context.Background()
	creds, err := credentials.Detect(ctx, nil)
	if err != nil {
		log.Fatal(err) // lists every source tried and how to fix it
	}
	for _, s := range creds.Steps {
		fmt.Printf("%-32s used=%-5v %s\n", s.Source, s.Used, s.Detail)
	}
	tp, err := creds.AccessTokenProvider([]string{"https://www.googleapis.com/auth/cloud-platform"})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tp.Token(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires", tok.Expiry)
}
