package fakegoogle

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Cloud Resource Manager's projects.get, v1 and v3
// (cloudresourcemanager.googleapis.com/v1/projects/{id-or-number} and
// /v3/projects/{id-or-number}): external_account credentials in Python and
// Node turn the project number of their audience into a project id with it
// (google.auth.default, GoogleAuth.getProjectId), so a fake without it
// breaks their default-credentials path.

// DefaultProjectName is the display name of DefaultProjectID.
const DefaultProjectName = "Fake Project"

// Project is a Cloud project known to the fake's Resource Manager.
type Project struct {
	// ID is the project id, e.g. "fake-project". Required.
	ID string `json:"id"`
	// Number is the project number, 6 to 20 digits. Required.
	Number string `json:"number"`
	// Name is the display name. Optional; default ID.
	Name string `json:"name,omitempty"`
	// CreateTime is when the project was made. Optional; AddProject sets
	// the fake's clock when zero.
	CreateTime time.Time `json:"create_time"`
}

var (
	projectIDRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`) })
	projectNumberRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{6,20}$`) })
)

func (p *Project) validate() error {
	switch {
	case !projectIDRE().MatchString(p.ID):
		return fmt.Errorf("project id %q: want 6 to 30 lowercase letters, digits or hyphens, starting with a letter", p.ID)
	case !projectNumberRE().MatchString(p.Number):
		return fmt.Errorf("project %s: number %q is not 6 to 20 digits", p.ID, p.Number)
	}
	return nil
}

// AddProject registers a project, or replaces the one with the same id.
// Every new Server has DefaultProjectID (number DefaultProjectNumber, the
// project of the default identity pools).
func (s *Server) AddProject(p Project) error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("fakegoogle: add project: %w", err)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if p.CreateTime.IsZero() {
		p.CreateTime = s.now().UTC().Truncate(time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, q := range s.projects {
		if q.Number == p.Number && id != p.ID {
			return fmt.Errorf("fakegoogle: add project %s: number %s belongs to project %s", p.ID, p.Number, id)
		}
	}
	s.projects[p.ID] = &p
	return nil
}

// findProject returns the project with id or number idOrNumber.
func (s *Server) findProject(idOrNumber string) (Project, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.projects[idOrNumber]; ok {
		return *p, true
	}
	for _, p := range s.projects {
		if p.Number == idOrNumber {
			return *p, true
		}
	}
	return Project{}, false
}

func defaultProject(now time.Time) *Project {
	return &Project{ID: DefaultProjectID, Number: DefaultProjectNumber, Name: DefaultProjectName,
		CreateTime: now.UTC().Truncate(time.Millisecond)}
}

// Scopes that let a token read a project (the discovery document's scopes
// of projects.get).
var crmReadScopes = []string{scopeCloudPlatform, "https://www.googleapis.com/auth/cloud-platform.read-only"}

const crmAPI = "cloudresourcemanager" // cloudresourcemanager.{universe}

// projectV1 is v1's Project, in Google's field order.
type projectV1 struct {
	ProjectNumber  string `json:"projectNumber"`
	ProjectID      string `json:"projectId"`
	LifecycleState string `json:"lifecycleState"`
	Name           string `json:"name"`
	CreateTime     string `json:"createTime"`
}

// projectV3 is v3's Project.
type projectV3 struct {
	Name        string `json:"name"`
	ProjectID   string `json:"projectId"`
	State       string `json:"state"`
	DisplayName string `json:"displayName"`
	CreateTime  string `json:"createTime"`
	UpdateTime  string `json:"updateTime"`
	Etag        string `json:"etag"`
}

// handleProjectGet serves GET /v1/projects/{project} and
// /v3/projects/{project}. Every caller with a valid token and a read scope
// may see every project the fake knows: the fake has no project-level IAM.
// As at Google, a project that does not exist gets the same 403 as one the
// caller may not see, so that ids cannot be probed.
func (s *Server) handleProjectGet(w http.ResponseWriter, r *http.Request) {
	v3 := strings.HasPrefix(r.URL.Path, "/v3/")
	if r.Method != http.MethodGet {
		s.writeIAMError(w, r, &iamError{code: http.StatusMethodNotAllowed, status: "UNIMPLEMENTED",
			message: "The fake's Resource Manager serves only projects.get (GET)."})
		return
	}
	rpc := "google.cloudresourcemanager.v1.Projects.GetProject"
	if v3 {
		rpc = "google.cloud.resourcemanager.v3.Projects.GetProject"
	}
	if _, e := s.apiCaller(w, r, apiMethod{service: s.serviceName(crmAPI), rpc: rpc, scopes: crmReadScopes}); e != nil {
		s.writeIAMError(w, r, e)
		return
	}
	name := r.PathValue("project")
	p, ok := s.findProject(name)
	if !ok {
		s.writeIAMError(w, r, projectDenied(v3, name, s.serviceName(crmAPI)))
		return
	}
	created := p.CreateTime.UTC().Format("2006-01-02T15:04:05.000Z")
	if !v3 {
		writeJSON(w, http.StatusOK, contentTypeGoogle, projectV1{
			ProjectNumber: p.Number, ProjectID: p.ID, LifecycleState: "ACTIVE", Name: p.Name, CreateTime: created})
		return
	}
	writeJSON(w, http.StatusOK, contentTypeGoogle, projectV3{
		Name: "projects/" + p.Number, ProjectID: p.ID, State: "ACTIVE", DisplayName: p.Name,
		CreateTime: created, UpdateTime: created, Etag: `W/"` + p.Number + `"`})
}

// projectDenied is each version's 403 [obs]: v1 says only that the caller
// lacks permission; v3 names the permission and resource.
func projectDenied(v3 bool, name, service string) *iamError {
	if !v3 {
		return &iamError{code: http.StatusForbidden, status: "PERMISSION_DENIED", message: "The caller does not have permission"}
	}
	resource := "//" + service + "/projects/" + name
	return &iamError{code: http.StatusForbidden, status: "PERMISSION_DENIED",
		message: fmt.Sprintf("Permission 'resourcemanager.projects.get' denied on resource '%s' (or it may not exist).", resource),
		details: []any{errorInfo{Type: typeErrorInfo, Reason: "IAM_PERMISSION_DENIED", Domain: service,
			Metadata: map[string]string{"permission": "resourcemanager.projects.get", "resource": "projects/" + name}}}}
}
