package transport_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gcptoken/gcptoken/transport"
)

// BenchmarkRoundTrip compares a request through the Transport, with its
// token cached, to the same request through a bare base transport, in the
// same run against the same local server.
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" && r.URL.Path == "/auth" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	newBase := func() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }
	tr, err := transport.NewTransport(&transport.Options{
		TokenProvider: &fakeTokens{},
		AllowedHosts:  []string{hostOf(b, srv.URL)},
		Base:          newBase(),
	})
	if err != nil {
		b.Fatal(err)
	}
	// Without a network, the Transport's own cost shows: policy check,
	// cached token, request clone.
	stubTr, err := transport.NewTransport(&transport.Options{TokenProvider: &fakeTokens{}, Base: noRecord{}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name string
		rt   http.RoundTripper
		url  string
	}{
		{"loopback/base", newBase(), srv.URL + "/"},
		{"loopback/gcptoken", tr, srv.URL + "/auth"},
		{"stub/base", noRecord{}, "https://storage.googleapis.com/"},
		{"stub/gcptoken", stubTr, "https://storage.googleapis.com/"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			client := &http.Client{Transport: bm.rt}
			url := bm.url
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// noRecord is stubBase without the recording, which would grow without
// bound in a benchmark.
type noRecord struct{}

func (noRecord) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}
