package fakegoogle

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	cloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	emailScope    = "https://www.googleapis.com/auth/userinfo.email"
)

// iamPost calls an IAM Credentials method. body is sent as is when it is a
// string, else JSON-encoded. An empty token sends no Authorization header.
func iamPost(t *testing.T, f *testFake, token, name, method string, body any) response {
	t.Helper()
	return iamPostPath(t, f, token, "/v1/projects/-/serviceAccounts/"+name+":"+method, body)
}

func iamPostPath(t *testing.T, f *testFake, token, path string, body any) response {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(b)
	}
	req, err := http.NewRequest(http.MethodPost, f.URL+path, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

// apiErr is the test's view of a Google API error.
type apiErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []struct {
		Type            string            `json:"@type"`
		Reason          string            `json:"reason"`
		Domain          string            `json:"domain"`
		Metadata        map[string]string `json:"metadata"`
		FieldViolations []struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

// wantAPIError checks status, canonical code and (if not empty) the exact
// message, and returns the error.
func wantAPIError(t *testing.T, r response, code int, status, message string) apiErr {
	t.Helper()
	var body struct {
		Error apiErr `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("status %d, body %q is not a Google API error: %v", r.status, r.body, err)
	}
	e := body.Error
	if r.status != code || e.Code != code || e.Status != status {
		t.Errorf("got %d %d %q; want %d %q (body %s)", r.status, e.Code, e.Status, code, status, r.body)
	}
	if message != "" && e.Message != message {
		t.Errorf("got message %q; want %q", e.Message, message)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Errorf("got Content-Type %q; want application/json; charset=UTF-8", ct)
	}
	return e
}

// errorInfo returns the ErrorInfo detail of e, failing if there is none.
func (e apiErr) errorInfo(t *testing.T) (reason, domain string, meta map[string]string) {
	t.Helper()
	for _, d := range e.Details {
		if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" {
			return d.Reason, d.Domain, d.Metadata
		}
	}
	t.Fatalf("no ErrorInfo in details of %+v", e)
	return "", "", nil
}

// userAccessToken returns an access token for a registered user.
func userAccessToken(t *testing.T, f *testFake, email string, scopes ...string) string {
	t.Helper()
	f.AddUser(email)
	rt, err := f.IssueRefreshToken(DefaultClientID, email, scopes)
	if err != nil {
		t.Fatal(err)
	}
	r := refresh(t, f, DefaultClientID, DefaultClientSecret, rt)
	if r.status != http.StatusOK {
		t.Fatalf("refresh: status %d body %s", r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

func tokeninfo(t *testing.T, f *testFake, accessToken string) map[string]any {
	t.Helper()
	r := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(accessToken), nil)
	if r.status != http.StatusOK {
		t.Fatalf("tokeninfo: status %d body %s", r.status, r.body)
	}
	return r.json(t)
}

func mustAddSA(t *testing.T, f *testFake, email string) *ServiceAccount {
	t.Helper()
	sa, err := f.AddServiceAccount(email)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func mustGrant(t *testing.T, f *testFake, member, sa string) {
	t.Helper()
	if err := f.GrantTokenCreator(member, sa); err != nil {
		t.Fatal(err)
	}
}

var iamExpireTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestIAMGenerateAccessToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	target, _ := f.ServiceAccount(DefaultTargetServiceAccount)
	body := map[string]any{"scope": []string{cloudPlatform, "email"}, "lifetime": "3600s"}

	for _, tt := range []struct{ name, path string }{
		{"email", "/v1/projects/-/serviceAccounts/" + DefaultTargetServiceAccount + ":generateAccessToken"},
		{"%40 in the path", "/v1/projects/-/serviceAccounts/" + strings.ReplaceAll(DefaultTargetServiceAccount, "@", "%40") + ":generateAccessToken"},
		{"unique id", "/v1/projects/-/serviceAccounts/" + target.UniqueID + ":generateAccessToken"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := iamPostPath(t, f, caller, tt.path, body)
			if r.status != http.StatusOK {
				t.Fatalf("got status %d body %s; want 200", r.status, r.body)
			}
			var resp struct {
				AccessToken string `json:"accessToken"`
				ExpireTime  string `json:"expireTime"`
			}
			if err := json.Unmarshal(r.body, &resp); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(resp.AccessToken, "ya29.c.") {
				t.Errorf("got accessToken %.10q…; want ya29.c.…", resp.AccessToken)
			}
			want := clock.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")
			if resp.ExpireTime != want || !iamExpireTime.MatchString(resp.ExpireTime) {
				t.Errorf("got expireTime %q; want %q", resp.ExpireTime, want)
			}
			info := tokeninfo(t, f, resp.AccessToken)
			for k, want := range map[string]string{
				"email": DefaultTargetServiceAccount, "sub": target.UniqueID, "azp": target.UniqueID,
				"scope": cloudPlatform + " " + emailScope, "expires_in": "3600",
			} {
				if got := info[k]; got != want {
					t.Errorf("got tokeninfo %s = %q; want %q", k, got, want)
				}
			}
		})
	}
}

func TestIAMDelegationChains(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	const (
		d1 = "d1@chain.iam.gserviceaccount.com"
		d2 = "d2@chain.iam.gserviceaccount.com"
		tg = "target@chain.iam.gserviceaccount.com"
		// caller → d1 → d2 → tg, and caller → tg directly; d1 has no grant
		// on tg, d2 none on d1.
	)
	for _, e := range []string{d1, d2, tg} {
		mustAddSA(t, f, e)
	}
	mustGrant(t, f, DefaultServiceAccount, d1)
	mustGrant(t, f, d1, d2)
	mustGrant(t, f, d2, tg)
	mustGrant(t, f, DefaultServiceAccount, tg)
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())
	full := func(e string) string { return "projects/-/serviceAccounts/" + e }

	for _, tt := range []struct {
		name         string
		method       string
		target       string
		delegates    []string
		wantStatus   int
		wantPerm     string // for 403s
		wantResource string // for 403s
	}{
		{name: "no delegates", target: tg, wantStatus: 200},
		{name: "one delegate", target: d2, delegates: []string{full(d1)}, wantStatus: 200},
		{name: "two delegates", target: tg, delegates: []string{full(d1), full(d2)}, wantStatus: 200},
		{name: "bare delegate emails", target: tg, delegates: []string{d1, d2}, wantStatus: 200},
		{name: "mixed delegate forms", target: tg, delegates: []string{d1, full(d2)}, wantStatus: 200},
		{name: "ID token through a chain", method: "generateIdToken", target: tg, delegates: []string{d1, d2}, wantStatus: 200},
		{name: "no grant on target", target: d2, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.getAccessToken", wantResource: full(d2)},
		{name: "broken first link", target: tg, delegates: []string{d2}, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.implicitDelegation", wantResource: full(d2)},
		{name: "broken middle link", target: d2, delegates: []string{d1, tg}, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.implicitDelegation", wantResource: full(tg)},
		{name: "broken last link", target: tg, delegates: []string{d1}, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.getAccessToken", wantResource: full(tg)},
		{name: "broken last link, ID token", method: "generateIdToken", target: tg, delegates: []string{d1}, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.getOpenIdToken", wantResource: full(tg)},
		{name: "broken last link, signJwt", method: "signJwt", target: tg, delegates: []string{d1}, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.signJwt", wantResource: full(tg)},
		{name: "broken last link, signBlob", method: "signBlob", target: tg, delegates: []string{d1}, wantStatus: 403,
			wantPerm: "iam.serviceAccounts.signBlob", wantResource: full(tg)},
		{name: "unknown delegate", target: tg, delegates: []string{"nobody@chain.iam.gserviceaccount.com", d2}, wantStatus: 404},
		{name: "delegate in a real project", target: tg, delegates: []string{"projects/chain/serviceAccounts/" + d1, d2}, wantStatus: 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := tt.method
			if method == "" {
				method = "generateAccessToken"
			}
			body := map[string]any{"delegates": tt.delegates}
			switch method {
			case "generateAccessToken":
				body["scope"] = []string{cloudPlatform}
			case "generateIdToken":
				body["audience"] = "https://svc.example"
			case "signJwt":
				body["payload"] = `{"sub":"x"}`
			case "signBlob":
				body["payload"] = base64.StdEncoding.EncodeToString([]byte("blob"))
			}
			r := iamPost(t, f, caller, tt.target, method, body)
			switch tt.wantStatus {
			case 200:
				if r.status != http.StatusOK {
					t.Fatalf("got status %d body %s; want 200", r.status, r.body)
				}
				if method == "generateAccessToken" {
					info := tokeninfo(t, f, r.json(t)["accessToken"].(string))
					sa, _ := f.ServiceAccount(tt.target)
					if info["sub"] != sa.UniqueID {
						t.Errorf("got token sub %q; want %q (%s)", info["sub"], sa.UniqueID, tt.target)
					}
				}
			case 403:
				e := wantAPIError(t, r, 403, "PERMISSION_DENIED",
					"Permission '"+tt.wantPerm+"' denied on resource (or it may not exist).")
				reason, domain, meta := e.errorInfo(t)
				if reason != "IAM_PERMISSION_DENIED" || domain != "iam.googleapis.com" {
					t.Errorf("got ErrorInfo %q %q; want IAM_PERMISSION_DENIED iam.googleapis.com", reason, domain)
				}
				if meta["permission"] != tt.wantPerm || meta["resource"] != tt.wantResource {
					t.Errorf("got metadata %v; want permission %q resource %q", meta, tt.wantPerm, tt.wantResource)
				}
			case 404:
				wantAPIError(t, r, 404, "NOT_FOUND", "Not found; Gaia id not found for email nobody@chain.iam.gserviceaccount.com")
			case 400:
				wantAPIError(t, r, 400, "INVALID_ARGUMENT", "")
			}
		})
	}
}

func TestIAMCallerAuthentication(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	now := clock.Now()
	valid := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, now)
	revoked := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, now)
	f.RevokeToken(revoked)
	idTok := saIDToken(t, f, DefaultServiceAccount, "https://svc.example", now)
	narrow := saAccessToken(t, f, DefaultServiceAccount, emailScope, now)
	iamOnly := saAccessToken(t, f, DefaultServiceAccount, "https://www.googleapis.com/auth/iam", now)
	user := userAccessToken(t, f, DefaultUser, cloudPlatform)
	stranger := userAccessToken(t, f, "stranger@example.com", cloudPlatform)
	for _, tt := range []struct {
		name       string
		header     string // Authorization
		advance    time.Duration
		wantStatus int
		wantReason string
	}{
		{name: "service account", header: "Bearer " + valid, wantStatus: 200},
		{name: "iam scope is enough", header: "Bearer " + iamOnly, wantStatus: 200},
		{name: "user", header: "Bearer " + user, wantStatus: 200},
		{name: "no header", wantStatus: 401, wantReason: "CREDENTIALS_MISSING"},
		{name: "not bearer", header: "Basic " + valid, wantStatus: 401, wantReason: "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{name: "unknown token", header: "Bearer ya29.c.nope", wantStatus: 401, wantReason: "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{name: "revoked token", header: "Bearer " + revoked, wantStatus: 401, wantReason: "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{name: "ID token", header: "Bearer " + idTok, wantStatus: 401, wantReason: "ACCESS_TOKEN_TYPE_UNSUPPORTED"},
		{name: "insufficient scope", header: "Bearer " + narrow, wantStatus: 403, wantReason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
		{name: "user without a grant", header: "Bearer " + stranger, wantStatus: 403, wantReason: "IAM_PERMISSION_DENIED"},
		// Last: it moves the clock for everything after it.
		{name: "expired token", header: "Bearer " + valid, advance: time.Hour, wantStatus: 401, wantReason: "ACCESS_TOKEN_EXPIRED"},
	} {
		t.Run(tt.name, func(t *testing.T) { // not parallel: one clock
			clock.Advance(tt.advance)
			req, _ := http.NewRequest(http.MethodPost, f.URL+"/v1/projects/-/serviceAccounts/"+DefaultTargetServiceAccount+":generateAccessToken",
				strings.NewReader(`{"scope":["`+cloudPlatform+`"]}`))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			r := do(t, req)
			if tt.wantStatus == 200 {
				if r.status != 200 {
					t.Errorf("got status %d body %s; want 200", r.status, r.body)
				}
				return
			}
			var e apiErr
			switch tt.wantStatus {
			case 401:
				e = wantAPIError(t, r, 401, "UNAUTHENTICATED", "")
				if !strings.HasPrefix(e.Message, "Request ") || !strings.Contains(e.Message, "Expected OAuth 2 access token") {
					t.Errorf("got message %q; want Google's UNAUTHENTICATED text", e.Message)
				}
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer realm=") {
					t.Errorf("got WWW-Authenticate %q; want Bearer realm=…", got)
				}
			case 403:
				msg := "Request had insufficient authentication scopes."
				if tt.wantReason == "IAM_PERMISSION_DENIED" {
					msg = "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
				}
				e = wantAPIError(t, r, 403, "PERMISSION_DENIED", msg)
			}
			reason, _, meta := e.errorInfo(t)
			if reason != tt.wantReason {
				t.Errorf("got reason %q; want %q", reason, tt.wantReason)
			}
			if tt.wantReason != "IAM_PERMISSION_DENIED" &&
				(meta["service"] != "iamcredentials.googleapis.com" || meta["method"] != "google.iam.credentials.v1.IAMCredentials.GenerateAccessToken") {
				t.Errorf("got metadata %v; want service and method", meta)
			}
		})
	}
}

func TestIAMRequestErrors(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	now := clock.Now().Unix()
	const tg = DefaultTargetServiceAccount
	for _, tt := range []struct {
		name       string
		path       string // default: generateAccessToken on tg
		method     string
		body       any
		wantStatus int
		wantCode   string
		wantMsg    string // exact, if set
	}{
		{name: "project id instead of -", path: "/v1/projects/fake-project/serviceAccounts/" + tg + ":generateAccessToken",
			body: `{"scope":["` + cloudPlatform + `"]}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "unknown service account", path: "/v1/projects/-/serviceAccounts/ghost@fake-project.iam.gserviceaccount.com:generateAccessToken",
			body: `{"scope":["` + cloudPlatform + `"]}`, wantStatus: 404, wantCode: "NOT_FOUND",
			wantMsg: "Not found; Gaia id not found for email ghost@fake-project.iam.gserviceaccount.com"},
		{name: "unknown unique id", path: "/v1/projects/-/serviceAccounts/100000000000000000000:generateAccessToken",
			body: `{"scope":["` + cloudPlatform + `"]}`, wantStatus: 404, wantCode: "NOT_FOUND"},
		{name: "not an account id", path: "/v1/projects/-/serviceAccounts/demo-target:generateAccessToken",
			body: `{"scope":["` + cloudPlatform + `"]}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT",
			wantMsg: "Invalid form of account ID demo-target. Should be [Gaia ID |Email |Unique ID |] of the account"},
		{name: "malformed JSON", body: `{"scope":`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "unknown field", body: `{"scope":["` + cloudPlatform + `"],"scopes":[]}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT",
			wantMsg: `Invalid JSON payload received. Unknown name "scopes": Cannot find field.`},
		{name: "missing scope", body: `{"lifetime":"3600s"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT",
			wantMsg: "Request contains an invalid argument."},
		{name: "empty scope", body: `{"scope":[],"delegates":null}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "lifetime without s", body: `{"scope":["` + cloudPlatform + `"],"lifetime":"3600"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "lifetime as a number", body: `{"scope":["` + cloudPlatform + `"],"lifetime":3600}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT",
			wantMsg: "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), 3600"},
		{name: "lifetime over 12h", body: `{"scope":["` + cloudPlatform + `"],"lifetime":"43201s"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "negative lifetime", body: `{"scope":["` + cloudPlatform + `"],"lifetime":"-5s"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "missing audience", method: "generateIdToken", body: `{"includeEmail":true}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "includeEmail not a boolean", method: "generateIdToken", body: `{"audience":"a","includeEmail":"yes"}`,
			wantStatus: 400, wantCode: "INVALID_ARGUMENT", wantMsg: `Invalid value at 'include_email' (TYPE_BOOL), "yes"`},
		{name: "signJwt without payload", method: "signJwt", body: `{}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "signJwt payload not JSON", method: "signJwt", body: `{"payload":"nope"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "signJwt exp in the past", method: "signJwt", body: map[string]string{"payload": `{"exp":` + strconv.FormatInt(now-1, 10) + `}`},
			wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "signJwt exp over 12h ahead", method: "signJwt", body: map[string]string{"payload": `{"exp":` + strconv.FormatInt(now+12*3600+1, 10) + `}`},
			wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "signJwt exp not an integer", method: "signJwt", body: map[string]string{"payload": `{"exp":"soon"}`},
			wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
		{name: "signBlob payload not base64", method: "signBlob", body: `{"payload":"!!!"}`, wantStatus: 400, wantCode: "INVALID_ARGUMENT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.path
			if path == "" {
				m := tt.method
				if m == "" {
					m = "generateAccessToken"
				}
				path = "/v1/projects/-/serviceAccounts/" + tg + ":" + m
			}
			wantAPIError(t, iamPostPath(t, f, caller, path, tt.body), tt.wantStatus, tt.wantCode, tt.wantMsg)
		})
	}

	t.Run("unmodelled", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{
			"/v1/projects/-/serviceAccounts/" + tg + ":generateSomething",
			"/v1/projects/-/serviceAccounts/" + tg + "/allowedLocations",
		} {
			if r := iamPostPath(t, f, caller, p, `{}`); r.status != 404 || !strings.Contains(string(r.body), "Error 404 (Not Found)!!1") {
				t.Errorf("POST %s: got %d %s; want 404 from the unmodelled handler", p, r.status, r.body)
			}
		}
		r := get(t, f.URL+"/v1/projects/-/serviceAccounts/"+tg+":generateAccessToken", http.Header{"Authorization": {"Bearer " + caller}})
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET: got status %d; want 405", r.status)
		}
	})
}

func TestIAMLifetime(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	const extended = "extended@fake-project.iam.gserviceaccount.com"
	mustAddSA(t, f, extended)
	mustGrant(t, f, DefaultServiceAccount, extended)
	if err := f.AllowLifetimeExtension(extended, true); err != nil {
		t.Fatal(err)
	}
	if err := f.AllowLifetimeExtension("ghost@x.iam.gserviceaccount.com", true); err == nil {
		t.Errorf("AllowLifetimeExtension on an unknown account succeeded; want an error")
	}
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	for _, tt := range []struct {
		name     string
		target   string
		lifetime any // nil: omitted
		want     time.Duration
		wantErr  string
	}{
		{name: "default", target: DefaultTargetServiceAccount, want: time.Hour},
		{name: "0s means default", target: DefaultTargetServiceAccount, lifetime: "0s", want: time.Hour},
		{name: "short", target: DefaultTargetServiceAccount, lifetime: "600s", want: 10 * time.Minute},
		{name: "fraction truncated", target: DefaultTargetServiceAccount, lifetime: "90.5s", want: 90 * time.Second},
		{name: "3600s", target: DefaultTargetServiceAccount, lifetime: "3600s", want: time.Hour},
		{name: "3601s without the policy", target: DefaultTargetServiceAccount, lifetime: "3601s",
			wantErr: "Access tokens for service account " + DefaultTargetServiceAccount + " can not have lifetimes of more than 1 hour. Use the Org Policy Constraint constraints/iam.allowServiceAccountCredentialLifetimeExtension to allow up to 12 hours."},
		{name: "7200s with the policy", target: extended, lifetime: "7200s", want: 2 * time.Hour},
		{name: "43200s with the policy", target: extended, lifetime: "43200s", want: 12 * time.Hour},
		{name: "43201s with the policy", target: extended, lifetime: "43201s", wantErr: "Lifetime 43201s is over the maximum of 43200s (12 hours), even with constraints/iam.allowServiceAccountCredentialLifetimeExtension"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := map[string]any{"scope": []string{cloudPlatform}}
			if tt.lifetime != nil {
				body["lifetime"] = tt.lifetime
			}
			r := iamPost(t, f, caller, tt.target, "generateAccessToken", body)
			if tt.wantErr != "" {
				wantAPIError(t, r, 400, "INVALID_ARGUMENT", tt.wantErr)
				return
			}
			if r.status != 200 {
				t.Fatalf("got status %d body %s; want 200", r.status, r.body)
			}
			m := r.json(t)
			if got, want := m["expireTime"], clock.Now().Add(tt.want).Format("2006-01-02T15:04:05Z"); got != want {
				t.Errorf("got expireTime %q; want %q", got, want)
			}
			if got, want := tokeninfo(t, f, m["accessToken"].(string))["expires_in"], strconv.Itoa(int(tt.want/time.Second)); got != want {
				t.Errorf("got tokeninfo expires_in %q; want %q", got, want)
			}
		})
	}
}

func TestIAMGenerateIDToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	target, _ := f.ServiceAccount(DefaultTargetServiceAccount)
	const aud = "https://svc.example"
	for _, tt := range []struct {
		name      string
		extra     string // JSON members added to the body
		wantAzp   string
		wantEmail bool
	}{
		{name: "defaults", wantAzp: target.UniqueID},
		{name: "includeEmail true", extra: `,"includeEmail":true`, wantAzp: target.UniqueID, wantEmail: true},
		{name: "includeEmail \"true\"", extra: `,"includeEmail":"true"`, wantAzp: target.UniqueID, wantEmail: true},
		{name: "includeEmail \"false\"", extra: `,"includeEmail":"false"`, wantAzp: target.UniqueID},
		{name: "include_email proto name", extra: `,"include_email":true`, wantAzp: target.UniqueID, wantEmail: true},
		{name: "useEmailAzp", extra: `,"useEmailAzp":true`, wantAzp: DefaultTargetServiceAccount},
		{name: "Python's strings", extra: `,"includeEmail":"true","useEmailAzp":"true","delegates":null`,
			wantAzp: DefaultTargetServiceAccount, wantEmail: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := iamPost(t, f, caller, DefaultTargetServiceAccount, "generateIdToken", `{"audience":"`+aud+`"`+tt.extra+`}`)
			if r.status != 200 {
				t.Fatalf("got status %d body %s; want 200", r.status, r.body)
			}
			tok, _ := r.json(t)["token"].(string)
			// The fake's tokeninfo verifies the signature with its keys.
			if v := get(t, f.URL+"/tokeninfo?id_token="+url.QueryEscape(tok), nil); v.status != 200 {
				t.Errorf("tokeninfo of the ID token: status %d body %s", v.status, v.body)
			}
			_, c := decodeJWT(t, tok)
			iat := float64(clock.Now().Unix())
			want := map[string]any{"iss": "https://accounts.google.com", "aud": aud, "sub": target.UniqueID,
				"azp": tt.wantAzp, "iat": iat, "exp": iat + 3600}
			if tt.wantEmail {
				want["email"], want["email_verified"] = DefaultTargetServiceAccount, true
			}
			if len(c) != len(want) {
				t.Errorf("got claims %v; want %v", c, want)
			}
			for k, v := range want {
				if c[k] != v {
					t.Errorf("got claim %s = %v; want %v", k, c[k], v)
				}
			}
		})
	}
}

// saCert fetches the service account's published x509 certificate for kid.
func saCert(t *testing.T, f *testFake, email, kid string) *rsa.PublicKey {
	t.Helper()
	r := get(t, f.URL+"/robot/v1/metadata/x509/"+url.PathEscape(email), nil)
	var certs map[string]string
	if err := json.Unmarshal(r.body, &certs); err != nil {
		t.Fatalf("x509 endpoint: %v (%s)", err, r.body)
	}
	block, _ := pem.Decode([]byte(certs[kid]))
	if block == nil {
		t.Fatalf("no certificate for kid %q in %v", kid, certs)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.PublicKey.(*rsa.PublicKey)
}

func TestIAMSignJwt(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())
	target, _ := f.ServiceAccount(DefaultTargetServiceAccount)
	payload := `{"iss":"me","aud":"https://x.example/?a=1&b=<2>","n":1}`
	r := iamPost(t, f, caller, DefaultTargetServiceAccount, "signJwt", map[string]string{"payload": payload})
	if r.status != 200 {
		t.Fatalf("got status %d body %s; want 200", r.status, r.body)
	}
	var resp struct {
		KeyID     string `json:"keyId"`
		SignedJwt string `json:"signedJwt"`
	}
	if err := json.Unmarshal(r.body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.KeyID != target.KeyID {
		t.Errorf("got keyId %q; want the account's key %q", resp.KeyID, target.KeyID)
	}
	parts := strings.Split(resp.SignedJwt, ".")
	if len(parts) != 3 {
		t.Fatalf("got signedJwt with %d parts; want 3", len(parts))
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if want := `{"alg":"RS256","kid":"` + target.KeyID + `","typ":"JWT"}`; string(h) != want {
		t.Errorf("got header %s; want %s", h, want)
	}
	if p, _ := base64.RawURLEncoding.DecodeString(parts[1]); string(p) != payload {
		t.Errorf("got payload %s; want the caller's bytes %s", p, payload)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(saCert(t, f, DefaultTargetServiceAccount, resp.KeyID), crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signedJwt does not verify with the published certificate: %v", err)
	}
}

func TestIAMSignBlob(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())
	blob := []byte("GET\n\n\n1700000000\n/bucket/object\xff\xfe")
	for _, tt := range []struct {
		name string
		enc  *base64.Encoding
	}{
		{"standard base64", base64.StdEncoding},
		{"URL-safe base64", base64.RawURLEncoding},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := iamPost(t, f, caller, DefaultTargetServiceAccount, "signBlob", map[string]string{"payload": tt.enc.EncodeToString(blob)})
			if r.status != 200 {
				t.Fatalf("got status %d body %s; want 200", r.status, r.body)
			}
			var resp struct {
				KeyID      string `json:"keyId"`
				SignedBlob string `json:"signedBlob"`
			}
			if err := json.Unmarshal(r.body, &resp); err != nil {
				t.Fatal(err)
			}
			sig, err := base64.StdEncoding.DecodeString(resp.SignedBlob)
			if err != nil {
				t.Fatalf("signedBlob is not standard base64: %v", err)
			}
			sum := sha256.Sum256(blob)
			if err := rsa.VerifyPKCS1v15(saCert(t, f, DefaultTargetServiceAccount, resp.KeyID), crypto.SHA256, sum[:], sig); err != nil {
				t.Errorf("signedBlob does not verify with the published certificate: %v", err)
			}
		})
	}
}

// TestIAMSignJwtAssertion checks the keyless flow of §6.5: a jwt-bearer
// assertion signed by signJwt is accepted by the token endpoint, with and
// without a DWD subject.
func TestIAMSignJwtAssertion(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	if err := f.AllowDomainWideDelegation(DefaultTargetServiceAccount, []string{cloudPlatform, "email"}); err != nil {
		t.Fatal(err)
	}
	user := f.AddUser(DefaultUser)
	target, _ := f.ServiceAccount(DefaultTargetServiceAccount)
	for _, tt := range []struct {
		name      string
		sub       string
		wantEmail string
		wantSub   string
	}{
		{name: "as the account", wantEmail: DefaultTargetServiceAccount, wantSub: target.UniqueID},
		{name: "domain-wide delegation", sub: DefaultUser, wantEmail: DefaultUser, wantSub: user.Subject},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := clock.Now().Unix()
			claims := map[string]any{"iss": DefaultTargetServiceAccount, "aud": "https://oauth2.googleapis.com/token",
				"scope": cloudPlatform + " " + emailScope, "iat": now, "exp": now + 3600}
			if tt.sub != "" {
				claims["sub"] = tt.sub
			}
			payload, _ := json.Marshal(claims)
			r := iamPost(t, f, caller, DefaultTargetServiceAccount, "signJwt", map[string]string{"payload": string(payload)})
			if r.status != 200 {
				t.Fatalf("signJwt: got status %d body %s", r.status, r.body)
			}
			assertion := r.json(t)["signedJwt"].(string)
			tr := postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {assertion}}, nil)
			if tr.status != 200 {
				t.Fatalf("token: got status %d body %s; want 200", tr.status, tr.body)
			}
			info := tokeninfo(t, f, tr.json(t)["access_token"].(string))
			if info["email"] != tt.wantEmail || info["sub"] != tt.wantSub || info["azp"] != target.UniqueID {
				t.Errorf("got tokeninfo email %q sub %q azp %q; want %q %q %q",
					info["email"], info["sub"], info["azp"], tt.wantEmail, tt.wantSub, target.UniqueID)
			}
		})
	}
}

func TestDomainWideDelegation(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	const (
		dwdSA   = "dwd@fake-project.iam.gserviceaccount.com"
		drive   = "https://www.googleapis.com/auth/drive"
		gmail   = "https://mail.google.com/"
		alice   = "alice@example.com"
		descDWD = "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."
	)
	mustAddSA(t, f, dwdSA)
	if err := f.AllowDomainWideDelegation(dwdSA, []string{drive, "email"}); err != nil {
		t.Fatal(err)
	}
	if err := f.AllowDomainWideDelegation("ghost@x.iam.gserviceaccount.com", []string{drive}); err == nil {
		t.Errorf("AllowDomainWideDelegation on an unknown account succeeded; want an error")
	}
	u := f.AddUser(alice)
	sa, _ := f.ServiceAccount(dwdSA)

	assert := func(t *testing.T, iss string, edit func(map[string]any)) response {
		kf, priv := saKey(t, f, iss)
		c := assertionClaimsFor(iss, kf.TokenURI, clock.Now())
		edit(c)
		a := signJWS(t, priv, map[string]string{"alg": "RS256", "typ": "JWT", "kid": kf.PrivateKeyID}, c)
		return postForm(t, f.URL+"/token", url.Values{"grant_type": {grantJWTBearer}, "assertion": {a}}, nil)
	}
	for _, tt := range []struct {
		name       string
		iss        string
		sub        string
		scope      string
		targetAud  string
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{name: "allowed", iss: dwdSA, sub: alice, scope: drive + " email", wantStatus: 200},
		{name: "allowed, sub as user id", iss: dwdSA, sub: u.Subject, scope: drive, wantStatus: 200},
		{name: "account not on the list", iss: DefaultServiceAccount, sub: alice, scope: drive,
			wantStatus: 401, wantError: "unauthorized_client", wantDesc: descDWD},
		{name: "scope outside the list", iss: dwdSA, sub: alice, scope: drive + " " + gmail,
			wantStatus: 401, wantError: "unauthorized_client", wantDesc: descDWD},
		{name: "ID token for a subject", iss: dwdSA, sub: alice, targetAud: "https://svc.example",
			wantStatus: 401, wantError: "unauthorized_client", wantDesc: descDWD},
		{name: "unknown user", iss: dwdSA, sub: "bob@example.com", scope: drive,
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Invalid email or User ID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := assert(t, tt.iss, func(c map[string]any) {
				c["sub"] = tt.sub
				c["scope"] = tt.scope
				if tt.targetAud != "" {
					delete(c, "scope")
					c["target_audience"] = tt.targetAud
				}
			})
			if tt.wantStatus != 200 {
				wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
				return
			}
			if r.status != 200 {
				t.Fatalf("got status %d body %s; want 200", r.status, r.body)
			}
			info := tokeninfo(t, f, r.json(t)["access_token"].(string))
			if info["sub"] != u.Subject || info["azp"] != sa.UniqueID {
				t.Errorf("got tokeninfo sub %q azp %q; want the user %q and the account %q", info["sub"], info["azp"], u.Subject, sa.UniqueID)
			}
			if strings.Contains(tt.scope, "email") && info["email"] != alice {
				t.Errorf("got tokeninfo email %q; want %q", info["email"], alice)
			}
		})
	}

	t.Run("taken off the list", func(t *testing.T) {
		t.Parallel()
		const other = "dwd2@fake-project.iam.gserviceaccount.com"
		mustAddSA(t, f, other)
		f.AllowDomainWideDelegation(other, []string{drive})
		f.AllowDomainWideDelegation(other, nil)
		r := assert(t, other, func(c map[string]any) { c["sub"], c["scope"] = alice, drive })
		wantOAuthError(t, r, 401, "unauthorized_client", descDWD)
	})
}

func TestTokenCreatorGrants(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	const sa = "grants@fake-project.iam.gserviceaccount.com"
	mustAddSA(t, f, sa)
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())
	call := func() int {
		return iamPost(t, f, caller, sa, "signBlob", map[string]string{"payload": "YQ=="}).status
	}
	if got := call(); got != 403 {
		t.Errorf("before the grant: got status %d; want 403", got)
	}
	if err := f.GrantTokenCreator("serviceAccount:"+DefaultServiceAccount, sa); err != nil {
		t.Fatal(err)
	}
	if got := call(); got != 200 {
		t.Errorf("after the grant: got status %d; want 200", got)
	}
	if err := f.RevokeTokenCreator(DefaultServiceAccount, sa); err != nil {
		t.Fatal(err)
	}
	if got := call(); got != 403 {
		t.Errorf("after the revocation: got status %d; want 403", got)
	}
	for _, tt := range []struct {
		name string
		fn   func() error
	}{
		{"grant on unknown account", func() error { return f.GrantTokenCreator(DefaultUser, "ghost@x.iam.gserviceaccount.com") }},
		{"grant to a non-email", func() error { return f.GrantTokenCreator("allUsers", sa) }},
		{"revoke a missing binding", func() error { return f.RevokeTokenCreator(DefaultUser, sa) }},
	} {
		if err := tt.fn(); err == nil {
			t.Errorf("%s: got nil error; want one", tt.name)
		}
	}
	// Self-impersonation needs a grant too, as at Google.
	target := saAccessToken(t, f, DefaultTargetServiceAccount, cloudPlatform, time.Now())
	if r := iamPost(t, f, target, DefaultTargetServiceAccount, "signBlob", map[string]string{"payload": "YQ=="}); r.status != 403 {
		t.Errorf("signing as oneself without a grant: got status %d; want 403", r.status)
	}
}

func TestIAMStateRoundTrip(t *testing.T) {
	t.Parallel()
	old := newFake(t, nil)
	const sa = "state@fake-project.iam.gserviceaccount.com"
	mustAddSA(t, old, sa)
	mustGrant(t, old, "someone@example.com", sa)
	if err := old.AllowLifetimeExtension(sa, true); err != nil {
		t.Fatal(err)
	}
	if err := old.AllowDomainWideDelegation(sa, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	state, err := old.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Version         int `json:"version"`
		ServiceAccounts []struct {
			Email             string   `json:"email"`
			TokenCreators     []string `json:"token_creators"`
			LifetimeExtension bool     `json:"lifetime_extension"`
			DWDScopes         []string `json:"dwd_scopes"`
		} `json:"service_accounts"`
	}
	if err := json.Unmarshal(state, &parsed); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, a := range parsed.ServiceAccounts {
		switch a.Email {
		case sa:
			found++
			if strings.Join(a.TokenCreators, ",") != "someone@example.com" || !a.LifetimeExtension ||
				strings.Join(a.DWDScopes, ",") != emailScope {
				t.Errorf("got persisted %+v; want grant, lifetime extension and DWD scopes", a)
			}
		case DefaultTargetServiceAccount:
			found++
			if got, want := strings.Join(a.TokenCreators, ","), DefaultServiceAccount+","+DefaultUser+
				","+DefaultWorkforcePoolMember+","+DefaultWorkloadPoolMember; got != want {
				t.Errorf("got default target's creators %q; want %q", got, want)
			}
		}
	}
	if found != 2 || parsed.Version != stateVersion {
		t.Errorf("got version %d and %d of the 2 accounts in state: %s", parsed.Version, found, state)
	}

	f := newFake(t, nil)
	if err := f.LoadState(state); err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	if again, _ := f.MarshalState(); string(again) != string(state) {
		t.Errorf("state after a round trip differs:\n%s\nwant\n%s", again, state)
	}
	// The loaded grants are live.
	if err := f.RevokeTokenCreator("someone@example.com", sa); err != nil {
		t.Errorf("RevokeTokenCreator after load: %v", err)
	}

	t.Run("version 1 file", func(t *testing.T) {
		t.Parallel()
		var v1 map[string]any
		if err := json.Unmarshal(state, &v1); err != nil {
			t.Fatal(err)
		}
		v1["version"] = 1
		var kept []any
		for _, a := range v1["service_accounts"].([]any) {
			m := a.(map[string]any)
			delete(m, "token_creators")
			delete(m, "lifetime_extension")
			delete(m, "dwd_scopes")
			if m["email"] != DefaultTargetServiceAccount {
				kept = append(kept, m)
			}
		}
		v1["service_accounts"] = kept
		data, _ := json.Marshal(v1)
		g := newFake(t, nil)
		if err := g.LoadState(data); err != nil {
			t.Fatalf("LoadState(version 1): %v", err)
		}
		if _, ok := g.ServiceAccount(DefaultTargetServiceAccount); !ok {
			t.Fatalf("version 1 load did not add %s", DefaultTargetServiceAccount)
		}
		caller := saAccessToken(t, g, DefaultServiceAccount, cloudPlatform, time.Now())
		if r := iamPost(t, g, caller, DefaultTargetServiceAccount, "signBlob", map[string]string{"payload": "YQ=="}); r.status != 200 {
			t.Errorf("demo grant after a version 1 load: got status %d body %s", r.status, r.body)
		}
		if r := iamPost(t, g, caller, sa, "signBlob", map[string]string{"payload": "YQ=="}); r.status != 403 {
			t.Errorf("version 1 file has no grants: got status %d; want 403", r.status)
		}
	})
}

func TestImpersonatedServiceAccountJSON(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	src, err := f.ServiceAccountKeyJSON(DefaultServiceAccount)
	if err != nil {
		t.Fatal(err)
	}
	const d = "delegate@fake-project.iam.gserviceaccount.com"
	mustAddSA(t, f, d)
	raw, err := f.ImpersonatedServiceAccountJSON(src, DefaultTargetServiceAccount, []string{d, "projects/-/serviceAccounts/" + d})
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Type       string          `json:"type"`
		URL        string          `json:"service_account_impersonation_url"`
		Delegates  []string        `json:"delegates"`
		SourceCred json.RawMessage `json:"source_credentials"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if file.Type != "impersonated_service_account" {
		t.Errorf("got type %q; want impersonated_service_account", file.Type)
	}
	if want := f.IAMCredentialsURL() + "/v1/projects/-/serviceAccounts/" + DefaultTargetServiceAccount + ":generateAccessToken"; file.URL != want || f.IAMCredentialsURL() != f.URL {
		t.Errorf("got URL %q (IAMCredentialsURL %q); want %q", file.URL, f.IAMCredentialsURL(), want)
	}
	if want := "projects/-/serviceAccounts/" + d; len(file.Delegates) != 2 || file.Delegates[0] != want || file.Delegates[1] != want {
		t.Errorf("got delegates %q; want both as %q", file.Delegates, want)
	}
	var a, b any
	json.Unmarshal(file.SourceCred, &a)
	json.Unmarshal(src, &b)
	if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
		t.Errorf("got source_credentials %s; want the key file %s", ja, jb)
	}

	for _, tt := range []struct {
		name      string
		src       []byte
		target    string
		delegates []string
	}{
		{"unknown target", src, "ghost@fake-project.iam.gserviceaccount.com", nil},
		{"unknown delegate", src, DefaultTargetServiceAccount, []string{"ghost@fake-project.iam.gserviceaccount.com"}},
		{"source not JSON", []byte("nope"), DefaultTargetServiceAccount, nil},
		{"source without type", []byte(`{"a":1}`), DefaultTargetServiceAccount, nil},
		{"nested impersonation", raw, DefaultTargetServiceAccount, nil},
	} {
		if _, err := f.ImpersonatedServiceAccountJSON(tt.src, tt.target, tt.delegates); err == nil {
			t.Errorf("%s: got nil error; want one", tt.name)
		}
	}
	s, _ := New(&Options{RSAKeyBits: 1024})
	if _, err := s.ImpersonatedServiceAccountJSON(src, DefaultTargetServiceAccount, nil); err == nil {
		t.Errorf("without a base URL: got nil error; want one")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
