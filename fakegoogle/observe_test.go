package fakegoogle

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// exchanges collects what an observer is handed.
type exchanges struct {
	mu  sync.Mutex
	got []*Exchange
}

func (e *exchanges) observe(ex *Exchange) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ex)
}

// last waits briefly for the observer to have seen n exchanges (it runs
// after the answer is written, so the client may return first) and
// returns the last one.
func (e *exchanges) last(t *testing.T, n int) *Exchange {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		got := len(e.got)
		var ex *Exchange
		if got >= n {
			ex = e.got[got-1]
		}
		e.mu.Unlock()
		if ex != nil {
			return ex
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer saw %d exchanges; want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestObserve checks that an observer sees each request and its answer as
// they went over the wire, the faults that changed them, and nothing once
// it is removed.
func TestObserve(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	var seen exchanges
	f.Observe(seen.observe)

	r := refresh(t, f, DefaultClientID, "wrong-secret", "1//fake-unknown")
	ex := seen.last(t, 1)
	form, err := url.ParseQuery(string(ex.Body))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case ex.Method != http.MethodPost || ex.RequestURI != "/token" || ex.Status != http.StatusUnauthorized:
		t.Errorf("got %s %s → %d; want POST /token → 401", ex.Method, ex.RequestURI, ex.Status)
	case form.Get("client_secret") != "wrong-secret" || form.Get("grant_type") != "refresh_token":
		t.Errorf("got request body %q; want the form as sent", ex.Body)
	case string(ex.ResponseBody) != string(r.body):
		t.Errorf("got response body %q; want what the client read, %q", ex.ResponseBody, r.body)
	case ex.ResponseHeader.Get("Content-Type") != contentTypeOAuth:
		t.Errorf("got response Content-Type %q; want %q", ex.ResponseHeader.Get("Content-Type"), contentTypeOAuth)
	case !ex.Time.Equal(clock.Now()) || ex.RemoteAddr == "" || ex.Header.Get("Content-Type") == "":
		t.Errorf("got time %v, client %q, header %v; want the fake's clock, the client's address and the request's header", ex.Time, ex.RemoteAddr, ex.Header)
	case ex.Fault != "":
		t.Errorf("got fault %q; want none", ex.Fault)
	}

	if err := f.AddFault(Fault{Path: "/oauth2/v3/certs", Status: 503, Times: 1}); err != nil {
		t.Fatal(err)
	}
	get(t, f.URL+"/oauth2/v3/certs", nil)
	if ex := seen.last(t, 2); ex.Fault != "status" || ex.Status != http.StatusServiceUnavailable {
		t.Errorf("got fault %q status %d; want the injected 503", ex.Fault, ex.Status)
	}
	if err := f.AddFault(Fault{Path: "/oauth2/v3/certs", Reset: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rawGet(context.Background(), f.URL+"/oauth2/v3/certs"); err == nil {
		t.Fatal("a reset fault answered")
	}
	if ex := seen.last(t, 3); ex.Fault != "reset" || ex.Status != 0 {
		t.Errorf("got fault %q status %d; want reset with no status", ex.Fault, ex.Status)
	}

	f.Observe(nil)
	get(t, f.URL+"/oauth2/v3/certs", nil)
	time.Sleep(20 * time.Millisecond)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.got) != 3 {
		t.Errorf("observer saw %d exchanges after Observe(nil); want 3", len(seen.got))
	}
}

// TestObserveCapsBodies checks that an exchange keeps only the start of a
// large body, and says so.
func TestObserveCapsBodies(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	var seen exchanges
	f.Observe(seen.observe)
	big := strings.Repeat("a", MaxObservedBody+100)
	postForm(t, f.URL+"/token", url.Values{"grant_type": {"x"}, "padding": {big}}, nil)
	ex := seen.last(t, 1)
	if len(ex.Body) != MaxObservedBody || !ex.BodyTruncated {
		t.Errorf("got %d body bytes, truncated %v; want %d, true", len(ex.Body), ex.BodyTruncated, MaxObservedBody)
	}
}

// TestObserveGRPC checks that observing keeps gRPC over HTTP/2 working
// (flushes and trailers pass through) and that the exchange carries the
// trailers with gRPC's status.
func TestObserveGRPC(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f, conn := grpcFake(t, &Options{Now: clock.Now})
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	var seen exchanges
	f.Observe(seen.observe)
	name := "projects/-/serviceAccounts/" + DefaultTargetServiceAccount
	if _, err := invoke(t, conn, caller, "GenerateIdToken", encodeMsg(field{1, name}, field{3, "https://svc.example"})); err != nil {
		t.Fatalf("GenerateIdToken while observed: %v", err)
	}
	if ex := seen.last(t, 1); ex.Status != http.StatusOK || ex.ResponseHeader.Get("Grpc-Status") != "0" || len(ex.ResponseBody) == 0 {
		t.Errorf("got status %d, grpc-status %q, %d body bytes; want 200, 0 and the message", ex.Status, ex.ResponseHeader.Get("Grpc-Status"), len(ex.ResponseBody))
	}
	if _, err := invoke(t, conn, "", "GenerateIdToken", encodeMsg(field{1, name}, field{3, "a"})); err == nil {
		t.Fatal("GenerateIdToken without a token succeeded")
	}
	if ex := seen.last(t, 2); ex.ResponseHeader.Get("Grpc-Status") != "16" {
		t.Errorf("got grpc-status %q for no token; want 16 (UNAUTHENTICATED)", ex.ResponseHeader.Get("Grpc-Status"))
	}
}
