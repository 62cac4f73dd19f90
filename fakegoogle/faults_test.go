package fakegoogle

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    string
		want    Fault
		wantErr string
	}{
		{spec: "/token:rate=0.2,status=503", want: Fault{Path: "/token", Rate: 0.2, Status: 503}},
		{spec: "/token:status=400,code=invalid_grant,times=1", want: Fault{Path: "/token", Status: 400, ErrorCode: "invalid_grant", Times: 1}},
		{spec: "/token:latency=500ms,latency-rate=0.1", want: Fault{Path: "/token", Latency: 500 * time.Millisecond, LatencyRate: 0.1}},
		{spec: "hang", want: Fault{Hang: true}},
		{spec: "/:reset,rate=0.5", want: Fault{Path: "/", Reset: true, Rate: 0.5}},
		{spec: "/oauth2:truncate", want: Fault{Path: "/oauth2", Truncate: true}},
		{spec: "/token:malformed=true", want: Fault{Path: "/token", Malformed: true}},
		{spec: "/token:content-type", want: Fault{Path: "/token", WrongContentType: true}},
		{spec: "/token", wantErr: "want PATH:KEY=VALUE"},
		{spec: "/token:rate=2,status=503", wantErr: "within [0, 1]"},
		{spec: "/token:rate=x", wantErr: "rate"},
		{spec: "/token:status=200", wantErr: "not an HTTP error status"},
		{spec: "/token:status=503,reset", wantErr: "at most one of"},
		{spec: "/token:rate=0.5", wantErr: "injects nothing"},
		{spec: "/token:code=invalid_grant", wantErr: "needs a status"},
		{spec: "/token:colour=red", wantErr: `unknown key "colour"`},
		{spec: "/token:latency=fast", wantErr: "latency"},
		{spec: "", wantErr: "empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseFault(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFault(%q) error = %v; want one containing %q", tt.spec, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFault(%q): %v", tt.spec, err)
			}
			if got != tt.want {
				t.Errorf("ParseFault(%q) = %+v; want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

// rawGet does one GET with a fresh connection and returns the response (body
// read) or the transport error.
func rawGet(ctx context.Context, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestFaultsOnTheWire(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	certs := f.URL + "/oauth2/v3/certs"
	if _, body, err := rawGet(context.Background(), certs); err != nil || !strings.Contains(string(body), `"keys"`) {
		t.Fatalf("without faults: body %q, err %v; want the JWKS", body, err)
	}

	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{"status 503", Fault{Status: 503}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 503 || !strings.Contains(string(body), `"error": "temporarily_unavailable"`) && !strings.Contains(string(body), `"error":"temporarily_unavailable"`) {
				t.Errorf("got %v %q err %v; want 503 temporarily_unavailable", resp, body, err)
			}
			if resp != nil && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		}},
		{"status 500 default code", Fault{Status: 500}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 500 || !strings.Contains(string(body), "internal_failure") {
				t.Errorf("got %q err %v; want 500 internal_failure", body, err)
			}
		}},
		{"status 400 invalid_grant", Fault{Status: 400, ErrorCode: "invalid_grant"}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_grant") {
				t.Errorf("got %q err %v; want 400 invalid_grant", body, err)
			}
		}},
		{"reset", Fault{Reset: true}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err == nil {
				t.Fatalf("got a response (%v %q); want a connection reset", resp.Status, body)
			}
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("err = %v; want a connection reset or EOF", err)
			}
		}},
		{"truncate", Fault{Truncate: true}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("err = %v (body %d bytes); want an unexpected EOF mid-body", err, len(body))
			}
			if resp == nil || resp.ContentLength <= int64(len(body)) {
				t.Errorf("response %v body %d bytes; want a Content-Length promising more", resp, len(body))
			}
		}},
		{"malformed", Fault{Malformed: true}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || resp.StatusCode != 200 || strings.HasPrefix(string(body), `{"keys"`) {
				t.Errorf("got %q err %v; want 200 with a non-JSON body", body, err)
			}
		}},
		{"wrong content type", Fault{WrongContentType: true}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `"keys"`) {
				t.Errorf("got %v %q err %v; want the real body labelled text/html", resp, body, err)
			}
		}},
		{"hang", Fault{Hang: true}, func(t *testing.T, resp *http.Response, body []byte, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v; want the client's deadline", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The subtests share one fake and one path, so they run one
			// by one (no t.Parallel).
			f.ClearFaults()
			tt.fault.Path = "/oauth2/v3/certs"
			tt.fault.Times = 1
			if err := f.AddFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			resp, body, err := rawGet(ctx, certs)
			tt.check(t, resp, body, err)
			// Times: 1 — the next request is served normally.
			if _, body, err := rawGet(context.Background(), certs); err != nil || !strings.Contains(string(body), `"keys"`) {
				t.Errorf("after the fault: body %q, err %v; want the JWKS", body, err)
			}
		})
	}
}

func TestFaultLatencyAndPaths(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if err := f.AddFault(Fault{Path: "/oauth2/v3/certs", Latency: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := rawGet(context.Background(), f.URL+"/oauth2/v3/certs"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("request took %v; want at least the injected 150ms", d)
	}
	// Another path is untouched.
	start = time.Now()
	if _, _, err := rawGet(context.Background(), f.URL+"/oauth2/v1/certs"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 150*time.Millisecond {
		t.Errorf("unfaulted path took %v; want no added latency", d)
	}
	if got := f.FaultsInjected(); got != 0 {
		t.Errorf("FaultsInjected = %d; want 0 (latency is not a failure)", got)
	}
}

// TestFaultRateIsSeeded checks that a rate fires about as often as asked and
// that the same seed gives the same sequence.
func TestFaultRateIsSeeded(t *testing.T) {
	t.Parallel()
	sequence := func(seed uint64) []int {
		f := newFake(t, nil)
		f.SetFaultSeed(seed)
		if err := f.AddFault(Fault{Path: "/oauth2/v3/certs", Rate: 0.2, Status: 503}); err != nil {
			t.Fatal(err)
		}
		var codes []int
		for range 200 {
			resp, _, err := rawGet(context.Background(), f.URL+"/oauth2/v3/certs")
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, resp.StatusCode)
		}
		if got := f.FaultsInjected(); got < 20 || got > 60 {
			t.Errorf("rate 0.2 over 200 requests fired %d times; want about 40", got)
		}
		return codes
	}
	a, b := sequence(7), sequence(7)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: status %d then %d with the same seed; want a reproducible sequence", i, a[i], b[i])
		}
	}
}

func TestFaultAPIShapeOnIAMPaths(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if err := f.AddFault(Fault{Path: "/v1/projects/", Status: 429}); err != nil {
		t.Fatal(err)
	}
	r := postForm(t, f.URL+"/v1/projects/-/serviceAccounts/x@y.iam.gserviceaccount.com:generateAccessToken", nil, nil)
	if r.status != 429 {
		t.Fatalf("status = %d; want 429", r.status)
	}
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok || e["code"] != float64(429) || e["status"] != "RATE_LIMIT_EXCEEDED" {
		t.Errorf("body %s; want the API error shape with code 429", r.body)
	}
}

func TestClockSkew(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	f.SetClockSkew(2 * time.Hour)
	// The client signs its assertion with the skewed time, or the fake
	// (rightly) refuses it as outside the timeframe.
	id := saIDToken(t, f, DefaultServiceAccount, "https://svc.example", clock.Now().Add(2*time.Hour))
	_, claims := decodeJWT(t, id)
	if got, want := int64(claims["iat"].(float64)), clock.Now().Add(2*time.Hour).Unix(); got != want {
		t.Errorf("iat = %d; want %d (the skewed clock)", got, want)
	}
	// An unskewed assertion is now two hours in the past: refused.
	kf, priv := saKey(t, f, DefaultServiceAccount)
	c := assertionClaimsFor(DefaultServiceAccount, kf.TokenURI, clock.Now().Add(-time.Hour))
	a := signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}, c)
	r := postForm(t, f.URL+"/token", map[string][]string{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", "")
}
