package metadataserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzServeHTTP sends arbitrary paths, queries, methods and headers to the
// metadata server. It must never panic, must answer with a real HTTP status,
// and must never hand a token to a request without "Metadata-Flavor:
// Google" or with X-Forwarded-For (the server-side request forgery guard).
//
//	go test ./metadataserver -run '^$' -fuzz FuzzServeHTTP -fuzztime 30s
func FuzzServeHTTP(f *testing.F) {
	s, _, _ := newTestServer(f, nil)
	for _, seed := range []struct {
		method, path, query string
		flavor, forwarded   bool
	}{
		{"GET", "/computeMetadata/v1/instance/service-accounts/default/token", "", true, false},
		{"GET", "/computeMetadata/v1/instance/service-accounts/default/token", "scopes=a,b", true, false},
		{"GET", "/computeMetadata/v1/instance/service-accounts/default/identity", "audience=https://x&format=full&licenses=TRUE", true, false},
		{"GET", "/computeMetadata/v1/instance/service-accounts/default/token", "", false, false},
		{"GET", "/computeMetadata/v1/instance/service-accounts/default/token", "", true, true},
		{"GET", "/computeMetadata/v1/instance/service-accounts/", "recursive=true", true, false},
		{"GET", "/computeMetadata/v1/", "recursive=true&alt=json", true, false},
		{"GET", "/computeMetadata/v1/instance/attributes/env", "wait_for_change=true&timeout_sec=0", true, false},
		{"POST", "/computeMetadata/v1/project/project-id", "", true, false},
		{"GET", "/computeMetadata/v1/instance/service-accounts/sa@test-project.iam.gserviceaccount.com/../default/token", "", true, false},
		{"GET", "/computeMetadata/v1beta1/instance/id", "", false, false},
		{"GET", "//computeMetadata//v1//", "%zz", true, false},
		{"GET", "/", "", false, false},
	} {
		f.Add(seed.method, seed.path, seed.query, seed.flavor, seed.forwarded)
	}
	f.Fuzz(func(t *testing.T, method, path, query string, flavor, forwarded bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u, err := url.Parse("http://169.254.169.254" + path)
		if err != nil || len(method) == 0 || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		u.RawQuery = query
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Method = method
		r.URL = u
		r.Host = u.Host
		r.RequestURI = u.RequestURI()
		if flavor {
			r.Header.Set("Metadata-Flavor", "Google")
		}
		if forwarded {
			r.Header.Set("X-Forwarded-For", "203.0.113.7")
		}
		// wait_for_change may hold a request open: bound it.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		r = r.WithContext(ctx)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("%s %s?%s: status %d", method, path, query, w.Code)
		}
		body := w.Body.String()
		hasToken := strings.Contains(body, "ya29.fake-") || strings.Contains(body, "eyJhbGciOiJSUzI1NiJ9.fake-")
		if hasToken && (!flavor || forwarded) {
			t.Fatalf("%s %s?%s (flavor %v, forwarded %v) got a token: %d %q", method, path, query, flavor, forwarded, w.Code, body)
		}
		if hasToken && w.Code != http.StatusOK {
			t.Fatalf("%s %s?%s: token in a %d answer", method, path, query, w.Code)
		}
	})
}
