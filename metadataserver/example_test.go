package metadataserver_test

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// Serve a service-account key as a metadata server on 127.0.0.1:8087; point
// clients at it with GCE_METADATA_HOST=127.0.0.1:8087.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	creds, err := credentials.FromFile("key.json", nil)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := metadataserver.New(&metadataserver.Options{
		Source:              metadataserver.FromCredentials(creds),
		ServiceAccountEmail: creds.Principal,
		ProjectID:           creds.ProjectID,
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8087")
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Prewarm(ctx); err != nil {
		log.Print(err) // not fatal: requests retry
	}
	if err := srv.Serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
}
