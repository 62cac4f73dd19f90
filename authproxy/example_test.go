package authproxy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"

	"github.com/gcptoken/gcptoken/authproxy"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
)

// A local proxy in front of a private service: the client sends no token.
// The fake Google stands in for Google and for the private Cloud Run
// service; with real credentials, use credentials.Detect and the service's
// URL.
func Example() {
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
	// The fake's sample service wants its own URL as the audience.
	tokens, err := creds.IDTokenProvider(fake.SampleServiceURL(), nil)
	if err != nil {
		log.Fatal(err)
	}
	target, _ := url.Parse(fake.URL)
	p, err := authproxy.New(&authproxy.Options{Target: target, Tokens: tokens})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/sample/get_range?start=1&end=3")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Print(string(body))

	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// 200 OK
	// {
	//   "range": [
	//     1,
	//     2,
	//     3
	//   ],
	//   "caller": "demo-sa@fake-project.iam.gserviceaccount.com"
	// }
}
