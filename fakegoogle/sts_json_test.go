package fakegoogle

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postJSON posts body as application/json, as Google's generated REST
// clients do.
func postJSON(t *testing.T, u, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func TestSTSJSONBody(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	subject := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	oidc, err := f.MintOIDCSubjectToken("workload-1", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	boundary, _ := json.Marshal(testBoundary) // options is a string holding JSON
	// What google.golang.org/api/sts/v1 sends: alt and prettyPrint in the
	// query, lowerCamel names in the body.
	stsURL := f.STSURL() + "?alt=json&prettyPrint=false"
	tests := []struct {
		name   string
		body   string
		status int
		want   string // in the body
	}{
		{"downscope, lowerCamel", `{"grantType":"urn:ietf:params:oauth:grant-type:token-exchange",` +
			`"requestedTokenType":"urn:ietf:params:oauth:token-type:access_token","subjectToken":"` + subject + `",` +
			`"subjectTokenType":"urn:ietf:params:oauth:token-type:access_token","options":` + string(boundary) + `}`,
			200, `"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"`},
		{"federation, proto names", `{"grant_type":"urn:ietf:params:oauth:grant-type:token-exchange",` +
			`"requested_token_type":"urn:ietf:params:oauth:token-type:access_token","subject_token":"` + oidc + `",` +
			`"subject_token_type":"` + SubjectTokenTypeJWT + `","audience":"` + DefaultOIDCAudience + `",` +
			`"scope":"https://www.googleapis.com/auth/cloud-platform"}`,
			200, `"token_type":"Bearer"`},
		// The same validation as for forms, with the same OAuth-style answer.
		{"wrong grant type", `{"grantType":"client_credentials"}`, 400, `"error":"invalid_request"`},
		{"empty string is absent", `{"grantType":"urn:ietf:params:oauth:grant-type:token-exchange",` +
			`"requestedTokenType":"urn:ietf:params:oauth:token-type:access_token","subjectToken":""}`,
			400, `Missing required field \"subject_token\"`},
		// Errors of the JSON front end are google.rpc.Status bodies.
		{"unknown field", `{"grantType":"x","actorToken":"y"}`, 400, `Unknown name \"actorToken\": Cannot find field.`},
		{"wrong type", `{"grantType":7}`, 400, `Invalid value at 'grant_type' (TYPE_STRING), 7`},
		{"not an object", `["grantType"]`, 400, `"status": "INVALID_ARGUMENT"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postJSON(t, stsURL, tt.body)
			if r.status != tt.status || !strings.Contains(string(r.body), tt.want) {
				t.Errorf("got %d %s; want %d containing %s", r.status, r.body, tt.status, tt.want)
			}
			if r.status != 200 {
				return
			}
			var got struct {
				AccessToken string `json:"access_token"`
				ExpiresIn   int64  `json:"expires_in"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil || got.AccessToken == "" || got.ExpiresIn <= 0 {
				t.Fatalf("got %s; want access_token and expires_in (snake_case, as for a form)", r.body)
			}
			info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(got.AccessToken), nil)
			if info.status != http.StatusOK {
				t.Errorf("tokeninfo of the issued token: got %d %s", info.status, info.body)
			}
		})
	}
}
