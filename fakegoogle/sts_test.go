package fakegoogle

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testBoundary = `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/b1","availablePermissions":["inRole:roles/storage.objectViewer"],"availabilityCondition":{"expression":"resource.name.startsWith('projects/_/buckets/b1/objects/a') && true","title":"a only"}}]}}`
)

// downscopeForm is a valid downscoping request for subject.
func downscopeForm(subject, options string) url.Values {
	return url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {subject},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"options":              {options},
	}
}

func TestSTSDownscope(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	if got, want := f.STSURL(), f.URL+"/v1/token"; got != want {
		t.Errorf("STSURL() = %q; want %q", got, want)
	}
	subject := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	clock.Advance(100 * time.Second)

	tests := []struct {
		name    string
		options string
	}{
		{"raw JSON (Go, Node)", testBoundary},
		// Python's urllib.parse.quote: spaces as %20, "/" kept.
		{"percent-encoded JSON (Python)", strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(testBoundary), "+", "%20"), "%2F", "/")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, f.STSURL(), downscopeForm(subject, tt.options), nil)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
			}
			if bytes.Contains(bytes.TrimSpace(r.body), []byte("\n")) {
				t.Errorf("body is not compact JSON: %s", r.body)
			}
			var got struct {
				AccessToken     string `json:"access_token"`
				IssuedTokenType string `json:"issued_token_type"`
				TokenType       string `json:"token_type"`
				ExpiresIn       int64  `json:"expires_in"`
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if got.AccessToken == "" || got.AccessToken == subject {
				t.Errorf("access_token = %q; want a new token", got.AccessToken)
			}
			if got.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" || got.TokenType != "Bearer" {
				t.Errorf("issued_token_type %q token_type %q", got.IssuedTokenType, got.TokenType)
			}
			if got.ExpiresIn != 3499 {
				t.Errorf("expires_in = %d; want 3499 (the subject token's remaining lifetime)", got.ExpiresIn)
			}

			info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(got.AccessToken), nil).json(t)
			var b struct {
				Rules []struct {
					AvailableResource     string   `json:"availableResource"`
					AvailablePermissions  []string `json:"availablePermissions"`
					AvailabilityCondition struct {
						Expression string `json:"expression"`
						Title      string `json:"title"`
					} `json:"availabilityCondition"`
				} `json:"accessBoundaryRules"`
			}
			ab, _ := info["access_boundary"].(string)
			if err := json.Unmarshal([]byte(ab), &b); err != nil {
				t.Fatalf("tokeninfo access_boundary = %q: %v", ab, err)
			}
			if len(b.Rules) != 1 || b.Rules[0].AvailableResource != "//storage.googleapis.com/projects/_/buckets/b1" ||
				b.Rules[0].AvailablePermissions[0] != "inRole:roles/storage.objectViewer" ||
				!strings.Contains(b.Rules[0].AvailabilityCondition.Expression, "&& true") || b.Rules[0].AvailabilityCondition.Title != "a only" {
				t.Errorf("tokeninfo access_boundary = %s", ab)
			}
			sa, _ := f.ServiceAccount(DefaultServiceAccount)
			if info["sub"] != sa.UniqueID || info["scope"] != cloudPlatform || info["expires_in"] != "3499" {
				t.Errorf("tokeninfo of the downscoped token: %v; want the subject's principal, scope and expiry", info)
			}
			v2 := get(t, f.URL+"/oauth2/v2/tokeninfo?access_token="+url.QueryEscape(got.AccessToken), nil).json(t)
			if v2["access_boundary"] != ab {
				t.Errorf("v2 tokeninfo access_boundary = %v; want %s", v2["access_boundary"], ab)
			}
		})
	}

	// The subject token itself stays unrestricted.
	info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(subject), nil).json(t)
	if _, ok := info["access_boundary"]; ok {
		t.Errorf("tokeninfo of an unrestricted token has access_boundary: %v", info)
	}
}

func TestSTSErrors(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	subject := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	r := postForm(t, f.STSURL(), downscopeForm(subject, testBoundary), nil)
	if r.status != http.StatusOK {
		t.Fatalf("downscope: status %d body %s", r.status, r.body)
	}
	downscoped := r.json(t)["access_token"].(string)

	rule := func(resource, perms string) string {
		return `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"` + resource + `","availablePermissions":` + perms + `}]}}`
	}
	elevenRules := `{"accessBoundary":{"accessBoundaryRules":[` +
		strings.Repeat(`{"availableResource":"r","availablePermissions":["inRole:roles/x"]},`, 10) +
		`{"availableResource":"r","availablePermissions":["inRole:roles/x"]}]}}`
	tests := []struct {
		name     string
		change   func(url.Values)
		code     string
		fragment string
	}{
		{"wrong grant_type", func(v url.Values) { v.Set("grant_type", "refresh_token") }, "invalid_request", "grant_type"},
		{"wrong requested_token_type", func(v url.Values) { v.Set("requested_token_type", "urn:ietf:params:oauth:token-type:id_token") }, "invalid_request", "requested_token_type"},
		{"no subject_token", func(v url.Values) { v.Del("subject_token") }, "invalid_request", "subject_token"},
		{"no subject_token_type", func(v url.Values) { v.Del("subject_token_type") }, "invalid_request", "subject_token_type"},
		{"unknown subject_token_type", func(v url.Values) { v.Set("subject_token_type", "urn:x") }, "invalid_request", `"urn:x"`},
		{"federation without audience", func(v url.Values) { v.Set("subject_token_type", "urn:ietf:params:oauth:token-type:jwt") },
			"invalid_request", `Invalid value for "audience"`},
		{"SAML not modelled", func(v url.Values) { v.Set("subject_token_type", "urn:ietf:params:oauth:token-type:saml2") },
			"invalid_request", "Unsupported subject_token_type: urn:ietf:params:oauth:token-type:saml2"},
		{"no options", func(v url.Values) { v.Del("options") }, "invalid_request", "options"},
		{"options not JSON", func(v url.Values) { v.Set("options", "{nope") }, "invalid_request", "options"},
		{"options without accessBoundary", func(v url.Values) { v.Set("options", `{"userProject":"p"}`) }, "invalid_request", "accessBoundary"},
		{"empty rules", func(v url.Values) { v.Set("options", `{"accessBoundary":{"accessBoundaryRules":[]}}`) }, "invalid_request", "accessBoundaryRules"},
		{"eleven rules", func(v url.Values) { v.Set("options", elevenRules) }, "invalid_request", "at most 10"},
		{"empty resource", func(v url.Values) { v.Set("options", rule("", `["inRole:roles/x"]`)) }, "invalid_request", "accessBoundaryRules[0].availableResource"},
		{"no permissions", func(v url.Values) { v.Set("options", rule("r", `[]`)) }, "invalid_request", "accessBoundaryRules[0].availablePermissions"},
		{"permission without inRole:", func(v url.Values) { v.Set("options", rule("r", `["inRole:roles/x","roles/y"]`)) }, "invalid_request", "availablePermissions[1]"},
		{"bare inRole:", func(v url.Values) { v.Set("options", rule("r", `["inRole:"]`)) }, "invalid_request", "availablePermissions[0]"},
		{"condition without expression", func(v url.Values) {
			v.Set("options", `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"r","availablePermissions":["inRole:roles/x"],"availabilityCondition":{"title":"t"}}]}}`)
		}, "invalid_request", "availabilityCondition.expression"},
		{"unknown subject token", func(v url.Values) { v.Set("subject_token", "ya29.nope") }, "invalid_grant", "subject_token"},
		{"already downscoped", func(v url.Values) { v.Set("subject_token", downscoped) }, "invalid_grant", "already carries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := downscopeForm(subject, testBoundary)
			tt.change(form)
			r := postForm(t, f.STSURL(), form, nil)
			wantOAuthError(t, r, http.StatusBadRequest, tt.code, "")
			if d, _ := r.json(t)["error_description"].(string); !strings.Contains(d, tt.fragment) {
				t.Errorf("error_description = %q; want it to contain %q", d, tt.fragment)
			}
			if bytes.Contains(bytes.TrimSpace(r.body), []byte("\n")) {
				t.Errorf("error body is not compact JSON: %s", r.body)
			}
		})
	}

	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		r := get(t, f.STSURL(), nil)
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("status = %d; want 405", r.status)
		}
	})
}

func TestSTSRevokedWithItsGrant(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	f.AddUser("bob@example.com")
	rt, err := f.IssueRefreshToken(DefaultClientID, "bob@example.com", []string{cloudPlatform})
	if err != nil {
		t.Fatal(err)
	}
	subject := refresh(t, f, DefaultClientID, DefaultClientSecret, rt).json(t)["access_token"].(string)
	r := postForm(t, f.STSURL(), downscopeForm(subject, testBoundary), nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	downscoped := r.json(t)["access_token"].(string)
	f.RevokeToken(rt)
	if r := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(downscoped), nil); r.status != http.StatusBadRequest {
		t.Errorf("tokeninfo after revoking the refresh token: status %d; want 400", r.status)
	}
}

func TestSTSExpiredSubject(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	subject := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	clock.Advance(time.Hour)
	r := postForm(t, f.STSURL(), downscopeForm(subject, testBoundary), nil)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", "")
}
