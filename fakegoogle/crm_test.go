package fakegoogle

import (
	"net/http"
	"strings"
	"testing"
)

func TestProjectGet(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	if err := f.AddProject(Project{ID: "second-project", Number: "123456789012", Name: "Second"}); err != nil {
		t.Fatal(err)
	}
	cloud := saAccessToken(t, f, DefaultServiceAccount, scopeCloudPlatform, clock.Now())
	readOnly := saAccessToken(t, f, DefaultServiceAccount, "https://www.googleapis.com/auth/cloud-platform.read-only", clock.Now())
	emailOnly := saAccessToken(t, f, DefaultServiceAccount, scopeEmail, clock.Now())
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	created := clock.Now().UTC().Format("2006-01-02T15:04:05.000Z")

	tests := []struct {
		name       string
		path       string
		hdr        http.Header
		wantStatus int
		want       map[string]any // fields of the body (top level, or of "error")
		wantAuth   string         // part of WWW-Authenticate
	}{
		{"v1 by number", "/v1/projects/" + DefaultProjectNumber, bearer(cloud), 200,
			map[string]any{"projectId": DefaultProjectID, "projectNumber": DefaultProjectNumber, "lifecycleState": "ACTIVE",
				"name": DefaultProjectName, "createTime": created}, ""},
		{"v1 by id, read-only scope", "/v1/projects/second-project", bearer(readOnly), 200,
			map[string]any{"projectId": "second-project", "projectNumber": "123456789012", "name": "Second"}, ""},
		{"v3 by id", "/v3/projects/" + DefaultProjectID, bearer(cloud), 200,
			map[string]any{"name": "projects/" + DefaultProjectNumber, "projectId": DefaultProjectID, "state": "ACTIVE",
				"displayName": DefaultProjectName}, ""},
		{"no token", "/v1/projects/" + DefaultProjectID, nil, 401,
			map[string]any{"status": "UNAUTHENTICATED", "message": msgCredentialsMissing}, `realm="https://accounts.google.com/"`},
		{"unknown token", "/v1/projects/" + DefaultProjectID, bearer("ya29.nope"), 401,
			map[string]any{"status": "UNAUTHENTICATED", "message": msgCredentialsInvalid}, "Bearer"},
		{"token without a read scope", "/v1/projects/" + DefaultProjectID, bearer(emailOnly), 403,
			map[string]any{"status": "PERMISSION_DENIED", "message": msgScopeInsufficient}, `error="insufficient_scope"`},
		{"v1 unknown project", "/v1/projects/no-such-project", bearer(cloud), 403,
			map[string]any{"status": "PERMISSION_DENIED", "message": "The caller does not have permission"}, ""},
		{"v3 unknown project", "/v3/projects/404040404", bearer(cloud), 403,
			map[string]any{"status": "PERMISSION_DENIED",
				"message": "Permission 'resourcemanager.projects.get' denied on resource '//cloudresourcemanager.googleapis.com/projects/404040404' (or it may not exist)."}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, f.URL+tt.path, tt.hdr)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d; want %d (body %s)", r.status, tt.wantStatus, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != contentTypeGoogle {
				t.Errorf("Content-Type = %q; want %q", ct, contentTypeGoogle)
			}
			body := r.json(t)
			if e, ok := body["error"].(map[string]any); ok {
				body = e
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %v; want %v (body %s)", k, body[k], v, r.body)
				}
			}
			if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, tt.wantAuth) {
				t.Errorf("WWW-Authenticate = %q; want it to contain %q", got, tt.wantAuth)
			}
		})
	}
	if r := postForm(t, f.URL+"/v1/projects/"+DefaultProjectID, nil, bearer(cloud)); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST project: status %d; want 405", r.status)
	}
}

func TestAddProjectValidates(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	for _, p := range []Project{
		{ID: "Bad_ID", Number: "123456789"},
		{ID: "good-project", Number: "12ab"},
		{ID: "other-project", Number: DefaultProjectNumber}, // taken by the default project
	} {
		if err := f.AddProject(p); err == nil {
			t.Errorf("AddProject(%+v) succeeded; want an error", p)
		}
	}
}

func TestProjectsSurviveState(t *testing.T) {
	t.Parallel()
	old := newFake(t, nil)
	if err := old.AddProject(Project{ID: "kept-project", Number: "555555555"}); err != nil {
		t.Fatal(err)
	}
	st, err := old.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, nil)
	if err := f.LoadState(st); err != nil {
		t.Fatal(err)
	}
	if p, ok := f.findProject("555555555"); !ok || p.ID != "kept-project" || p.Name != "kept-project" {
		t.Errorf("after LoadState: project %+v, %v; want kept-project named after its id", p, ok)
	}
}
