package credentials

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

func TestImpersonateAccessToken(t *testing.T) {
	t.Parallel()
	ts := sourceServer(t)
	exp := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		if r.Account != targetSA || r.Method != "generateAccessToken" {
			t.Errorf("got %s:%s; want %s:generateAccessToken", r.Account, r.Method, targetSA)
		}
		if r.Auth != "Bearer "+sourceToken {
			t.Errorf("got Authorization = %q; want %q", r.Auth, "Bearer "+sourceToken)
		}
		wantBody(t, r.Body, map[string]any{
			"delegates": []string{"projects/-/serviceAccounts/" + delegateA, "projects/-/serviceAccounts/" + delegateB},
			"scope":     []string{scopeCP, "openid"},
			"lifetime":  "7200s",
		})
		return 200, map[string]any{"accessToken": "ya29.impersonated", "expireTime": exp.Format(time.RFC3339)}
	})
	src := sourceCreds(t, ts)
	c, err := Impersonate(src, &ImpersonateOptions{
		Target:      targetSA,
		Delegates:   []string{delegateA, "projects/-/serviceAccounts/" + delegateB}, // both forms
		Lifetime:    2 * time.Hour,
		IAMEndpoint: iam.URL + "/", // a trailing slash is tolerated
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"Type", c.Type, TypeImpersonatedServiceAccount},
		{"Principal", c.Principal, targetSA},
		{"Source", c.Source, fmt.Sprintf("impersonating %s via [%s %s] from credentials JSON", targetSA, delegateA, delegateB)},
		{"ProjectID", c.ProjectID, "proj"},
		{"UniverseDomain", c.UniverseDomain, "googleapis.com"},
	} {
		if f.got != f.want {
			t.Errorf("got %s = %q; want %q", f.name, f.got, f.want)
		}
	}
	wantEPs := []string{
		iam.url(targetSA, "generateAccessToken"), iam.url(targetSA, "generateIdToken"), ts.tokenURL(),
	}
	if got := c.TokenEndpoints(); !slices.Equal(got, wantEPs) {
		t.Errorf("got TokenEndpoints() = %q; want %q", got, wantEPs)
	}
	tp, err := c.AccessTokenSource([]string{scopeCP, "openid"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tok, err := tp.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value != "ya29.impersonated" || tok.Kind != gcptoken.AccessToken || tok.TokenType() != "Bearer" || !tok.Expiry.Equal(exp) {
			t.Errorf("got token %q kind %q type %q expiry %v; want ya29.impersonated access_token Bearer %v",
				tok.Value, tok.Kind, tok.TokenType(), tok.Expiry, exp)
		}
		if got := len(iam.requests()); got != i+1 {
			t.Errorf("got %d IAM requests after %d calls; want %d (the provider is plain)", got, i+1, i+1)
		}
	}
	if got := ts.calls.Load(); got != 1 {
		t.Errorf("got %d source token requests for 3 impersonated tokens; want 1 (the source token is cached)", got)
	}
}

func TestImpersonateDefaults(t *testing.T) {
	t.Parallel()
	ts := sourceServer(t)
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		// No delegates: the field is left out. Default lifetime: an hour.
		wantBody(t, r.Body, map[string]any{"scope": []string{scopeCP}, "lifetime": "3600s"})
		return 200, map[string]any{"accessToken": "ya29.x", "expireTime": "2030-01-02T03:04:05.123456Z"}
	})
	c, err := Impersonate(sourceCreds(t, ts), &ImpersonateOptions{Target: "projects/-/serviceAccounts/" + targetSA, IAMEndpoint: iam.URL})
	if err != nil {
		t.Fatal(err)
	}
	if c.Principal != targetSA {
		t.Errorf("got Principal = %q; want %q", c.Principal, targetSA)
	}
	if want := "impersonating " + targetSA + " from credentials JSON"; c.Source != want {
		t.Errorf("got Source = %q; want %q", c.Source, want)
	}
	tp, err := c.AccessTokenSource(nil) // no scopes: cloud-platform
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC); !tok.Expiry.Equal(want) {
		t.Errorf("got Expiry = %v; want %v (fractional seconds are RFC 3339 too)", tok.Expiry, want)
	}
}

// TestImpersonateEndpointDefaults: the IAM endpoint follows the source's
// universe; nothing is contacted.
func TestImpersonateEndpointDefaults(t *testing.T) {
	t.Parallel()
	other := saFile(t, "")
	other["universe_domain"] = "example-universe.net"
	tests := []struct {
		name     string
		file     map[string]any
		wantIAM  string
		universe string
	}{
		{"googleapis.com", saFile(t, ""), "https://iamcredentials.googleapis.com", "googleapis.com"},
		{"other universe", other, "https://iamcredentials.example-universe.net", "example-universe.net"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := FromJSON(mustJSON(t, tt.file), isolated(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Impersonate(src, &ImpersonateOptions{Target: targetSA})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.TokenEndpoints()[0], tt.wantIAM+iamPrefix+targetSA+":generateAccessToken"; got != want {
				t.Errorf("got TokenEndpoints()[0] = %q; want %q", got, want)
			}
			if c.UniverseDomain != tt.universe {
				t.Errorf("got UniverseDomain = %q; want %q", c.UniverseDomain, tt.universe)
			}
			s, err := c.WithSubject("user@example.com")
			if tt.universe != DefaultUniverseDomain {
				if !errors.Is(err, errUniverseDWD) {
					t.Errorf("WithSubject in universe %s: got %v; want %v", tt.universe, err, errUniverseDWD)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantToken := defaultTokenURL(tt.universe)
			if eps := s.TokenEndpoints(); !slices.Contains(eps, wantToken) {
				t.Errorf("got TokenEndpoints() = %q; want it to contain %q", eps, wantToken)
			}
		})
	}
	if DefaultIAMEndpoint != "https://iamcredentials.googleapis.com" || defaultTokenURL("googleapis.com") != DefaultTokenURL {
		t.Error("the defaults for Google's universe are wrong")
	}
}

func TestImpersonateIDToken(t *testing.T) {
	t.Parallel()
	for _, include := range []bool{false, true} {
		t.Run(fmt.Sprintf("includeEmail=%v", include), func(t *testing.T) {
			t.Parallel()
			ts := sourceServer(t)
			var idTok string
			iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
				if r.Account != targetSA || r.Method != "generateIdToken" {
					t.Errorf("got %s:%s; want %s:generateIdToken", r.Account, r.Method, targetSA)
				}
				// Google's Go library sends no Authorization here (#19939).
				if r.Auth != "Bearer "+sourceToken {
					t.Errorf("got Authorization = %q; want %q", r.Auth, "Bearer "+sourceToken)
				}
				wantBody(t, r.Body, map[string]any{
					"audience":     "https://svc.example",
					"includeEmail": include,
					"delegates":    []string{"projects/-/serviceAccounts/" + delegateA},
				})
				idTok = fakeJWT(t, map[string]any{"aud": "https://svc.example", "exp": soon, "iss": "https://accounts.google.com"})
				return 200, map[string]any{"token": idTok}
			})
			c, err := Impersonate(sourceCreds(t, ts), &ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA}, IAMEndpoint: iam.URL})
			if err != nil {
				t.Fatal(err)
			}
			opts := &IDTokenOptions{TokenFormat: TokenFormatStandard, IncludeEmail: include} // format ignored
			tp, err := c.IDTokenSource("https://svc.example", opts)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != idTok || tok.Kind != gcptoken.IDToken || tok.Expiry.Unix() != soon ||
				tok.Metadata[gcptoken.MetaAudience] != "https://svc.example" {
				t.Errorf("got token kind %q expiry %v audience %q; want id_token, %v, https://svc.example",
					tok.Kind, tok.Expiry, tok.Metadata[gcptoken.MetaAudience], time.Unix(soon, 0))
			}
		})
	}
}

// TestImpersonateSharesSourceToken: access and ID token providers of one
// credential share the cached source token.
func TestImpersonateSharesSourceToken(t *testing.T) {
	t.Parallel()
	ts := sourceServer(t)
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		if r.Method == "generateIdToken" {
			return 200, map[string]any{"token": fakeJWT(t, map[string]any{"aud": "x", "exp": soon})}
		}
		return 200, map[string]any{"accessToken": "ya29.x", "expireTime": "2030-01-01T00:00:00Z"}
	})
	c, err := Impersonate(sourceCreds(t, ts), &ImpersonateOptions{Target: targetSA, IAMEndpoint: iam.URL})
	if err != nil {
		t.Fatal(err)
	}
	at, _ := c.AccessTokenSource([]string{scopeCP})
	it, _ := c.IDTokenSource("x", nil)
	for _, tp := range []gcptoken.TokenProvider{at, it, at, it} {
		if _, err := tp.Token(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := ts.calls.Load(); got != 1 {
		t.Errorf("got %d source token requests; want 1", got)
	}
}

func TestImpersonateErrors(t *testing.T) {
	t.Parallel()
	permDenied := "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
	tests := []struct {
		name      string
		delegates []string
		idToken   bool
		status    int
		body      any
		want      []string
		invalid   bool // errors.Is(err, ErrInvalidCredentials)
		temporary bool
	}{
		{
			name:      "403 in the middle of a chain",
			delegates: []string{delegateA, delegateB},
			status:    403,
			body: apiErrorBody(403, "PERMISSION_DENIED", permDenied, "IAM_PERMISSION_DENIED", map[string]string{
				"permission": "iam.serviceAccounts.getAccessToken",
				"resource":   "projects/-/serviceAccounts/" + delegateB,
			}),
			want: []string{
				fmt.Sprintf("impersonate %s (delegates %s, %s): fetch access token from {iam}/%s:generateAccessToken: HTTP 403 PERMISSION_DENIED: %s",
					targetSA, delegateA, delegateB, targetSA, permDenied),
				"resource projects/-/serviceAccounts/" + delegateB,
				"reason IAM_PERMISSION_DENIED",
				fmt.Sprintf("(refused at hop 2 of 3: %s needs roles/iam.serviceAccountTokenCreator on %s)", delegateA, delegateB),
			},
			invalid: true,
		},
		{
			name:      "403 on the first hop, named in the message",
			delegates: []string{delegateA},
			status:    403,
			body:      apiErrorBody(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource projects/-/serviceAccounts/"+delegateA+".", "", nil),
			want:      []string{"(refused at hop 1 of 2: the source credential " + testEmail + " needs roles/iam.serviceAccountTokenCreator on " + delegateA + ")"},
			invalid:   true,
		},
		{
			name:    "403 without delegates",
			status:  403,
			body:    apiErrorBody(403, "PERMISSION_DENIED", permDenied, "IAM_PERMISSION_DENIED", map[string]string{"permission": "iam.serviceAccounts.getAccessToken"}),
			want:    []string{"(the source credential " + testEmail + " needs roles/iam.serviceAccountTokenCreator on " + targetSA + ")"},
			invalid: true,
		},
		{
			name:      "403 with the hop unknown",
			delegates: []string{delegateA},
			status:    403,
			body:      apiErrorBody(403, "PERMISSION_DENIED", "The caller does not have permission", "", nil),
			want:      []string{"HTTP 403 PERMISSION_DENIED: The caller does not have permission"},
			invalid:   true,
		},
		{
			name:    "403 service disabled",
			status:  403,
			body:    apiErrorBody(403, "PERMISSION_DENIED", "IAM Service Account Credentials API has not been used in project 1 before or it is disabled.", "SERVICE_DISABLED", map[string]string{"service": "iamcredentials.googleapis.com", "activationUrl": "https://console.developers.google.com/apis/api/iamcredentials.googleapis.com/overview?project=1"}),
			want:    []string{"[reason SERVICE_DISABLED; activationUrl https://console.developers.google.com/apis/api/iamcredentials.googleapis.com/overview?project=1; service iamcredentials.googleapis.com]"},
			invalid: true,
		},
		{
			name:    "404",
			status:  404,
			body:    apiErrorBody(404, "NOT_FOUND", "Requested entity was not found.", "", nil),
			want:    []string{"HTTP 404 NOT_FOUND: Requested entity was not found."},
			invalid: true,
		},
		{
			name:      "404 for a delegate",
			delegates: []string{delegateA, delegateB},
			status:    404,
			body:      apiErrorBody(404, "NOT_FOUND", "Not found; Gaia id not found for email "+delegateA, "", nil),
			want:      []string{"HTTP 404 NOT_FOUND: Not found; Gaia id not found for email " + delegateA + " (refused at hop 1 of 3, the source credential " + testEmail + " → " + delegateA + ")"},
			invalid:   true,
		},
		{
			name:   "400 lifetime",
			status: 400,
			body:   apiErrorBody(400, "INVALID_ARGUMENT", "Access tokens for service account "+targetSA+" can not have lifetimes of more than 1 hour.", "", nil),
			want:   []string{"HTTP 400 INVALID_ARGUMENT: Access tokens for service account " + targetSA + " can not have lifetimes of more than 1 hour."},
		},
		{
			name:      "503",
			status:    503,
			body:      apiErrorBody(503, "UNAVAILABLE", "The service is currently unavailable.", "", nil),
			want:      []string{"HTTP 503 UNAVAILABLE"},
			temporary: true,
		},
		{
			name:    "401 bad source token",
			status:  401,
			body:    apiErrorBody(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", "", nil),
			want:    []string{"HTTP 401 UNAUTHENTICATED"},
			invalid: true,
		},
		{name: "no accessToken", status: 200, body: map[string]any{"expireTime": "2030-01-01T00:00:00Z"}, want: []string{"the response has no accessToken"}},
		{name: "bad expireTime", status: 200, body: map[string]any{"accessToken": "ya29.x", "expireTime": "tomorrow"}, want: []string{"no RFC 3339 expireTime"}},
		{name: "not JSON", status: 200, body: "<html>", want: []string{"malformed response: not JSON"}},
		{name: "ID token 403", idToken: true, status: 403, body: apiErrorBody(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource (or it may not exist).", "", nil),
			want: []string{"fetch ID token from {iam}/" + targetSA + ":generateIdToken: HTTP 403 PERMISSION_DENIED", "needs roles/iam.serviceAccountTokenCreator"}, invalid: true},
		{name: "ID token missing", idToken: true, status: 200, body: map[string]any{}, want: []string{"the response has no token"}},
		{name: "ID token malformed", idToken: true, status: 200, body: map[string]any{"token": "abc"}, want: []string{"malformed ID token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := sourceServer(t)
			iam := newIAMServer(t, func(*testing.T, iamRequest) (int, any) { return tt.status, tt.body })
			c, err := Impersonate(sourceCreds(t, ts), &ImpersonateOptions{Target: targetSA, Delegates: tt.delegates, IAMEndpoint: iam.URL})
			if err != nil {
				t.Fatal(err)
			}
			tp, err := c.AccessTokenSource([]string{scopeCP})
			if tt.idToken {
				tp, err = c.IDTokenSource("https://svc.example", nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = tp.Token(t.Context())
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "{iam}", iam.URL+strings.TrimSuffix(iamPrefix, "/"))
			}
			wantErrContains(t, err, want...)
			if got := errors.Is(err, gcptoken.ErrInvalidCredentials); got != tt.invalid {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = %v; want %v", err, got, tt.invalid)
			}
			if got := gcptoken.IsTemporary(err); got != tt.temporary {
				t.Errorf("IsTemporary(%v) = %v; want %v", err, got, tt.temporary)
			}
			var ge *gcptoken.Error
			if errors.As(err, &ge) && ge.StatusCode != tt.status {
				t.Errorf("got *gcptoken.Error status %d; want %d", ge.StatusCode, tt.status)
			}
			if strings.Contains(err.Error(), sourceToken) {
				t.Errorf("error %q contains the source token", err)
			}
		})
	}
}

// TestImpersonateSourceFailure: a source that cannot get a token fails the
// impersonation without calling IAM, and its error shows through.
func TestImpersonateSourceFailure(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, func(*testing.T, url.Values) (int, any) {
		return 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
	})
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		t.Errorf("IAM was called with a failing source")
		return 500, nil
	})
	c, err := Impersonate(sourceCreds(t, ts), &ImpersonateOptions{Target: targetSA, IAMEndpoint: iam.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, mk := range []func() (gcptoken.TokenProvider, error){
		func() (gcptoken.TokenProvider, error) { return c.AccessTokenSource([]string{scopeCP}) },
		func() (gcptoken.TokenProvider, error) { return c.IDTokenSource("aud", nil) },
	} {
		tp, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		_, err = tp.Token(t.Context())
		wantErrContains(t, err, "impersonate "+targetSA+": get the source credential's access token: fetch access token from "+
			ts.tokenURL()+": HTTP 400 invalid_grant: Invalid JWT Signature.")
		if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
			t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false; want true", err)
		}
	}
}

func TestImpersonateOptionsErrors(t *testing.T) {
	t.Parallel()
	src := sourceCreds(t, sourceServer(t))
	tests := []struct {
		name   string
		source *Credentials
		opts   *ImpersonateOptions
		want   string
	}{
		{"nil options", src, nil, "ImpersonateOptions.Target: required"},
		{"no target", src, &ImpersonateOptions{Target: " "}, "ImpersonateOptions.Target: required"},
		{"bad target", src, &ImpersonateOptions{Target: "a b@c"}, `ImpersonateOptions.Target: "a b@c" is not a service account email or unique id`},
		{"target with path", src, &ImpersonateOptions{Target: "x@y/../z"}, "ImpersonateOptions.Target"},
		{"bad resource name", src, &ImpersonateOptions{Target: "projects/-/x"}, "is not projects/-/serviceAccounts/EMAIL"},
		{"empty delegate", src, &ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, ""}}, "ImpersonateOptions.Delegates[1]: empty service account"},
		{"lifetime over 12h", src, &ImpersonateOptions{Target: targetSA, Lifetime: 12*time.Hour + time.Second}, "ImpersonateOptions.Lifetime 12h0m1s: longer than the IAM Credentials API's maximum of 12h"},
		{"negative lifetime", src, &ImpersonateOptions{Target: targetSA, Lifetime: -time.Second}, "ImpersonateOptions.Lifetime -1s: negative"},
		{"fractional lifetime", src, &ImpersonateOptions{Target: targetSA, Lifetime: 1500 * time.Millisecond}, "not a whole number of seconds"},
		{"bad IAM endpoint", src, &ImpersonateOptions{Target: targetSA, IAMEndpoint: "iamcredentials.googleapis.com"}, "ImpersonateOptions.IAMEndpoint"},
		{"IAM endpoint with query", src, &ImpersonateOptions{Target: targetSA, IAMEndpoint: "https://x.example/?a=b"}, "no query"},
		{"bad token URL", src, &ImpersonateOptions{Target: targetSA, TokenURL: "/token"}, "ImpersonateOptions.TokenURL"},
		{"nil source", nil, &ImpersonateOptions{Target: targetSA}, "must come from Detect"},
		{"zero source", &Credentials{}, &ImpersonateOptions{Target: targetSA}, "must come from Detect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Impersonate(tt.source, tt.opts)
			wantErrContains(t, err, "credentials: Impersonate: ", tt.want)
		})
	}
	// 12 hours exactly is allowed, and sent as seconds.
	if _, err := Impersonate(src, &ImpersonateOptions{Target: targetSA, Lifetime: MaxImpersonationLifetime}); err != nil {
		t.Errorf("Impersonate with Lifetime 12h: %v", err)
	}
}

// impFile is an impersonated_service_account file.
func impFile(impURL string, source map[string]any, delegates ...string) map[string]any {
	m := map[string]any{
		"type":                              "impersonated_service_account",
		"service_account_impersonation_url": impURL,
		"source_credentials":                source,
	}
	if delegates != nil {
		m["delegates"] = delegates
	}
	return m
}

// TestImpersonatedFile: a file gives the same credentials as Impersonate,
// requests go exactly to the file's URL, and the ID token URL is derived.
func TestImpersonatedFile(t *testing.T) {
	t.Parallel()
	ts := sourceServer(t)
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		if r.Auth != "Bearer "+sourceToken {
			t.Errorf("got Authorization = %q; want %q", r.Auth, "Bearer "+sourceToken)
		}
		delegates := []string{"projects/-/serviceAccounts/" + delegateA, "projects/-/serviceAccounts/" + delegateB}
		switch r.Method {
		case "generateAccessToken":
			wantBody(t, r.Body, map[string]any{"delegates": delegates, "scope": []string{scopeCP}, "lifetime": "3600s"})
			return 200, map[string]any{"accessToken": "ya29.file", "expireTime": "2030-01-01T00:00:00Z"}
		case "generateIdToken":
			wantBody(t, r.Body, map[string]any{"audience": "aud", "includeEmail": true, "delegates": delegates})
			return 200, map[string]any{"token": fakeJWT(t, map[string]any{"aud": "aud", "exp": soon})}
		}
		t.Errorf("unexpected method %q", r.Method)
		return 404, nil
	})
	f := impFile(iam.url(targetSA, "generateAccessToken"), saFile(t, ts.tokenURL()), delegateA, "projects/-/serviceAccounts/"+delegateB)
	f["quota_project_id"] = "quota-proj"
	path := writeFile(t, "imp.json", mustJSON(t, f))
	c, err := FromFile(path, isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"Type", c.Type, TypeImpersonatedServiceAccount},
		{"Principal", c.Principal, targetSA},
		{"Source", c.Source, fmt.Sprintf("impersonating %s via [%s %s] from file %q, source_credentials", targetSA, delegateA, delegateB, path)},
		{"Path", c.Path, path},
		{"QuotaProjectID", c.QuotaProjectID, "quota-proj"},
		{"ProjectID", c.ProjectID, "proj"},
		{"UniverseDomain", c.UniverseDomain, "googleapis.com"},
	} {
		if f.got != f.want {
			t.Errorf("got %s = %q; want %q", f.name, f.got, f.want)
		}
	}
	at, err := c.AccessTokenSource([]string{scopeCP})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := at.Token(t.Context()); err != nil || tok.Value != "ya29.file" {
		t.Fatalf("got token %v, %v; want ya29.file", tok, err)
	}
	it, err := c.IDTokenSource("aud", &IDTokenOptions{IncludeEmail: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := it.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := iam.requests()
	if len(got) != 2 || got[0].Method != "generateAccessToken" || got[1].Method != "generateIdToken" {
		t.Errorf("got IAM requests %v; want generateAccessToken, generateIdToken", got)
	}

	// The same through Impersonate.
	p, err := Impersonate(sourceCreds(t, ts), &ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, delegateB}, IAMEndpoint: iam.URL})
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity() != p.Identity() {
		t.Errorf("got Identity() = %q from the file, %q from Impersonate; want them equal", c.Identity(), p.Identity())
	}
	if !slices.Equal(c.TokenEndpoints(), p.TokenEndpoints()) {
		t.Errorf("got TokenEndpoints() = %q from the file, %q from Impersonate; want them equal", c.TokenEndpoints(), p.TokenEndpoints())
	}
	if c.Type != p.Type || c.Principal != p.Principal || c.ProjectID != p.ProjectID {
		t.Errorf("got %+v from the file, %+v from Impersonate; want the same type, principal, project", c, p)
	}
}

// TestImpersonatedFileSources: the source may be any supported type,
// impersonated credentials included, and Detect finds such files.
func TestImpersonatedFileSources(t *testing.T) {
	t.Parallel()
	const innerSA = "inner@proj.iam.gserviceaccount.com"
	userTS := newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
		if form.Get("grant_type") != "refresh_token" || form.Get("refresh_token") != testRefreshToken || form.Get("scope") != scopeCP {
			t.Errorf("got form %v; want a refresh grant for %s", form, scopeCP)
		}
		return 200, map[string]any{"access_token": sourceToken, "expires_in": 3600, "token_type": "Bearer"}
	})
	saTS := sourceServer(t)
	// Each IAM call turns the caller's token into the next one: the source
	// token into ya29.first, ya29.first into ya29.second.
	iam := newIAMServer(t, func(t *testing.T, r iamRequest) (int, any) {
		next := map[string]string{"Bearer " + sourceToken: "ya29.first", "Bearer ya29.first": "ya29.second"}[r.Auth]
		if next == "" {
			t.Errorf("got Authorization = %q for %s; want the source's or the inner impersonation's token", r.Auth, r.Account)
		}
		if next == "ya29.second" && r.Account != targetSA {
			t.Errorf("got the inner token sent to %s; want it sent to %s", r.Account, targetSA)
		}
		return 200, map[string]any{"accessToken": next, "expireTime": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	})
	outerURL := iam.url(targetSA, "generateAccessToken")
	innerURL := iam.url(innerSA, "generateAccessToken")
	tests := []struct {
		name       string
		source     map[string]any
		wantSource string
		wantIAM    int
	}{
		{"authorized_user", auFile(userTS.tokenURL()), "from GOOGLE_APPLICATION_CREDENTIALS=%q, source_credentials", 1},
		{"service_account", saFile(t, saTS.tokenURL()), "from GOOGLE_APPLICATION_CREDENTIALS=%q, source_credentials", 1},
		{"impersonated", impFile(innerURL, saFile(t, saTS.tokenURL())),
			"from impersonating " + innerSA + " from GOOGLE_APPLICATION_CREDENTIALS=%q, source_credentials.source_credentials", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "imp.json", mustJSON(t, impFile(outerURL, tt.source)))
			c, err := Detect(t.Context(), isolated(t, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path}))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf(tt.wantSource, path); !strings.HasSuffix(c.Source, want) {
				t.Errorf("got Source = %q; want it to end with %q", c.Source, want)
			}
			if want := fmt.Sprintf("%s (%s)", path, TypeImpersonatedServiceAccount); c.Steps[1].Detail != want || !c.Steps[1].Used {
				t.Errorf("got step %+v; want used, detail %q", c.Steps[1], want)
			}
			tp, err := c.AccessTokenSource([]string{scopeCP})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if want := map[int]string{1: "ya29.first", 2: "ya29.second"}[tt.wantIAM]; tok.Value != want {
				t.Errorf("got %q; want %q", tok.Value, want)
			}
			if tt.wantIAM == 2 {
				if eps := c.TokenEndpoints(); !slices.Contains(eps, innerURL) || !slices.Contains(eps, saTS.tokenURL()) {
					t.Errorf("got TokenEndpoints() = %q; want the inner IAM URL and the key's token URL too", eps)
				}
				if id := c.Identity(); !strings.Contains(id, innerSA) || !strings.Contains(id, testKeyID) {
					t.Errorf("got Identity() = %q; want the whole chain", id)
				}
			}
			assertNoSecrets(t, "Identity()", c.Identity())
			assertNoSecrets(t, "Source", c.Source)
		})
	}
}

func TestImpersonatedFileErrors(t *testing.T) {
	t.Parallel()
	good := "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + targetSA + ":generateAccessToken"
	sa := saFile(t, "")
	with := func(k string, v any) []byte {
		m := impFile(good, sa)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	nested := func(levels int) []byte {
		src := sa
		for range levels {
			src = impFile(good, src)
		}
		return mustJSON(t, src)
	}
	brokenSA := saFile(t, "")
	delete(brokenSA, "private_key")
	tests := []struct {
		name string
		data []byte
		want []string
	}{
		{"missing URL", with("service_account_impersonation_url", nil), []string{"service_account_impersonation_url: missing or empty (required for impersonated_service_account)"}},
		{"URL not a string", with("service_account_impersonation_url", 5), []string{"service_account_impersonation_url: must be a string, not a number"}},
		{"URL not absolute", with("service_account_impersonation_url", "iamcredentials.googleapis.com/v1/x:generateAccessToken"), []string{"service_account_impersonation_url:", "not an absolute http(s) URL"}},
		{"URL for generateIdToken", with("service_account_impersonation_url", strings.Replace(good, "generateAccessToken", "generateIdToken", 1)),
			[]string{`service_account_impersonation_url: "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/` + targetSA + `:generateIdToken" does not end with ":generateAccessToken"`}},
		{"URL with query", with("service_account_impersonation_url", good+"?x=1"), []string{"service_account_impersonation_url:", "no query"}},
		{"URL without serviceAccounts", with("service_account_impersonation_url", "https://iam.example/v1/x:generateAccessToken"), []string{"names no service account"}},
		{"URL with empty account", with("service_account_impersonation_url", "https://iam.example/v1/projects/-/serviceAccounts/:generateAccessToken"), []string{"empty service account"}},
		{"delegates not a list", with("delegates", delegateA), []string{"delegates: must be a list of strings, not a string"}},
		{"delegate empty", with("delegates", []string{delegateA, ""}), []string{"delegates[1]: empty service account"}},
		{"delegate not a string", with("delegates", []any{1}), []string{"delegates", "must be a string, not a number"}},
		{"missing source", with("source_credentials", nil), []string{"source_credentials: missing or empty (required for impersonated_service_account)"}},
		{"null source", []byte(`{"type":"impersonated_service_account","service_account_impersonation_url":"` + good + `","source_credentials":null}`), []string{"source_credentials: missing"}},
		{"source not an object", with("source_credentials", "x"), []string{"source_credentials: is not a JSON object (found string)"}},
		{"source without type", with("source_credentials", map[string]any{"client_email": "x"}), []string{`source_credentials: has no "type" field`}},
		{"source broken", with("source_credentials", brokenSA), []string{"source_credentials: private_key: missing or empty (required for service_account)"}},
		{"source unsupported", with("source_credentials", map[string]any{"type": "gdch_service_account"}), []string{`source_credentials: credential type "gdch_service_account" is not supported yet`}},
		{"nested broken", mustJSON(t, impFile(good, impFile(good, brokenSA))), []string{"source_credentials: source_credentials: private_key: missing"}},
		{"too deep", nested(6), []string{"impersonated_service_account credentials nested more than 5 deep in source_credentials"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "imp.json", tt.data)
			_, err := FromFile(path, isolated(t, nil))
			wantErrContains(t, err, append([]string{"credentials " + strconv.Quote(path) + ": "}, tt.want...)...)
			if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false; want true", err)
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
	// Five levels are fine.
	c, err := FromJSON(nested(5), isolated(t, nil))
	if err != nil {
		t.Fatalf("five nested impersonations: %v", err)
	}
	if n := strings.Count(c.Identity(), TypeImpersonatedServiceAccount); n != 5 {
		t.Errorf("got %d impersonations in Identity() = %q; want 5", n, c.Identity())
	}
}

func TestImpersonatedFileEnvAndOptions(t *testing.T) {
	t.Parallel()
	f := impFile("https://iam.example/v1/projects/-/serviceAccounts/"+url.PathEscape(targetSA)+":generateAccessToken", saFile(t, ""))
	f["universe_domain"] = "example.net"
	c, err := FromJSON(mustJSON(t, f), &Options{
		Getenv:   env(map[string]string{"GOOGLE_CLOUD_QUOTA_PROJECT": "q-env", "GOOGLE_CLOUD_PROJECT": "p-env"}),
		HomeDir:  t.TempDir(),
		TokenURL: "http://127.0.0.1:1/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.QuotaProjectID != "q-env" || c.ProjectID != "p-env" || c.UniverseDomain != "example.net" {
		t.Errorf("got quota %q, project %q, universe %q; want q-env, p-env, example.net", c.QuotaProjectID, c.ProjectID, c.UniverseDomain)
	}
	if _, err := c.WithSubject("user@example.com"); err == nil || !strings.Contains(err.Error(), "not supported in universes other than googleapis.com") {
		t.Errorf("WithSubject in universe example.net: got %v; want domain-wide delegation refused", err)
	}
	delete(f, "universe_domain")
	if c, err = FromJSON(mustJSON(t, f), &Options{HomeDir: t.TempDir(), Getenv: env(nil), TokenURL: "http://127.0.0.1:1/token"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.WithSubject("user@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"https://iam.example/v1/projects/-/serviceAccounts/" + targetSA + ":generateAccessToken",
		"https://iam.example/v1/projects/-/serviceAccounts/" + targetSA + ":generateIdToken",
		"https://iam.example/v1/projects/-/serviceAccounts/" + targetSA + ":signJwt",
		"http://127.0.0.1:1/token", // Options.TokenURL, for the signed JWT
		"http://127.0.0.1:1/token", // and for the source key
	}
	if got := s.TokenEndpoints(); !slices.Equal(got, want) {
		t.Errorf("got TokenEndpoints() = %q; want %q", got, want)
	}
}

func TestImpersonateIdentity(t *testing.T) {
	t.Parallel()
	src := sourceCreds(t, sourceServer(t))
	other, err := FromJSON(mustJSON(t, auFile("")), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	identity := func(t *testing.T, src *Credentials, o ImpersonateOptions, subject string) string {
		t.Helper()
		c, err := Impersonate(src, &o)
		if err != nil {
			t.Fatal(err)
		}
		if subject != "" {
			if c, err = c.WithSubject(subject); err != nil {
				t.Fatal(err)
			}
		}
		return c.Identity()
	}
	base := identity(t, src, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, delegateB}}, "")
	if want := "impersonated_service_account|" + targetSA + "|" + delegateA + "," + delegateB + "||" + src.Identity(); base != want {
		t.Errorf("got Identity() = %q; want %q", base, want)
	}
	tests := []struct {
		name    string
		src     *Credentials
		opts    ImpersonateOptions
		subject string
		same    bool
	}{
		{"other target", src, ImpersonateOptions{Target: "other@proj.iam.gserviceaccount.com", Delegates: []string{delegateA, delegateB}}, "", false},
		{"no delegates", src, ImpersonateOptions{Target: targetSA}, "", false},
		{"one delegate", src, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA}}, "", false},
		{"delegates reordered", src, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateB, delegateA}}, "", false},
		{"subject", src, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, delegateB}}, "user@example.com", false},
		{"other source", other, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, delegateB}}, "", false},
		{"resource-name forms", src, ImpersonateOptions{Target: "projects/-/serviceAccounts/" + targetSA, Delegates: []string{"projects/-/serviceAccounts/" + delegateA, delegateB}}, "", true},
		{"other lifetime", src, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, delegateB}, Lifetime: time.Minute}, "", true},
		{"other endpoint", src, ImpersonateOptions{Target: targetSA, Delegates: []string{delegateA, delegateB}, IAMEndpoint: "http://127.0.0.1:1"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := identity(t, tt.src, tt.opts, tt.subject)
			if (got == base) != tt.same {
				t.Errorf("got Identity() = %q vs %q: same = %v; want %v", got, base, got == base, tt.same)
			}
		})
	}
	a := identity(t, src, ImpersonateOptions{Target: targetSA}, "a@example.com")
	b := identity(t, src, ImpersonateOptions{Target: targetSA}, "b@example.com")
	if a == b {
		t.Errorf("got Identity() = %q for two subjects; want them to differ", a)
	}
}

func TestNamedHop(t *testing.T) {
	t.Parallel()
	chain := []string{"a@p.iam.gserviceaccount.com", "aa@p.iam.gserviceaccount.com", "t@p.iam.gserviceaccount.com"}
	tests := []struct {
		desc string
		want int
	}{
		{"denied on projects/-/serviceAccounts/aa@p.iam.gserviceaccount.com", 1},
		{"denied on projects/-/serviceAccounts/a@p.iam.gserviceaccount.com.", 0},
		{"a@p.iam.gserviceaccount.com may not; resource projects/-/serviceAccounts/t@p.iam.gserviceaccount.com", 2},
		{"a@p.iam.gserviceaccount.com and t@p.iam.gserviceaccount.com", -1},
		{"aa@p.iam.gserviceaccount.com.", 1},
		{"nothing here", -1},
		{"xa@p.iam.gserviceaccount.com", -1},
		{"a@p.iam.gserviceaccount.community", -1},
	}
	for _, tt := range tests {
		if got := namedHop(tt.desc, chain); got != tt.want {
			t.Errorf("namedHop(%q) = %d; want %d", tt.desc, got, tt.want)
		}
	}
}

func TestAPIErrorDetails(t *testing.T) {
	t.Parallel()
	body := mustJSON(t, apiErrorBody(403, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied.", "IAM_PERMISSION_DENIED",
		map[string]string{"permission": "iam.serviceAccounts.getAccessToken", "resource": "projects/-/serviceAccounts/x@y"}))
	e := apiError("op", "https://x/y?q=1", 403, body)
	if want := "Permission 'iam.serviceAccounts.getAccessToken' denied. [reason IAM_PERMISSION_DENIED; resource projects/-/serviceAccounts/x@y]"; e.Description != want {
		t.Errorf("got Description = %q; want %q", e.Description, want)
	}
	if e.Code != "PERMISSION_DENIED" || e.URL != "https://x/y" {
		t.Errorf("got Code %q, URL %q; want PERMISSION_DENIED, https://x/y", e.Code, e.URL)
	}
	// OAuth-style and non-JSON bodies are left as the root package reads them.
	for _, b := range []string{`{"error":"invalid_grant","error_description":"Bad."}`, `<html>`} {
		want := gcptoken.NewResponseError("op", "u", 400, []byte(b))
		if got := apiError("op", "u", 400, []byte(b)); got.Error() != want.Error() {
			t.Errorf("got %q; want %q", got, want)
		}
	}
}
