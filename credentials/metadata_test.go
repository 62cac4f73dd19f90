package credentials

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// Full paths as a metadata server sees them.
const (
	tokenPath    = metadataPrefix + mdTokenPath
	identityPath = metadataPrefix + mdIdentityPath
	emailPath    = metadataPrefix + mdEmailPath
	projectPath  = metadataPrefix + mdProjectIDPath
	universePath = metadataPrefix + mdUniversePath
)

// fakeMetadata serves like GCE does: it asserts that every request is a GET
// carrying Metadata-Flavor: Google, answers with the header, then lets handle
// answer.
func fakeMetadata(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("got method %q; want GET", r.Method)
		}
		if got := r.Header.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("got Metadata-Flavor = %q; want Google", got)
		}
		w.Header().Set("Metadata-Flavor", "Google")
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// metadataCreds returns metadata-server credentials for host without
// Detect, which would also ask the server about itself.
func metadataCreds(t *testing.T, host string) *Credentials {
	t.Helper()
	s, err := isolated(t, nil).resolve()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newMetadata(s, host)
	return c
}

func TestMetadataAccessToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		scopes     []string
		wantScopes string // "" = no scopes parameter
	}{
		{"default scopes", nil, ""},
		{"scopes comma-joined", []string{"https://www.googleapis.com/auth/cloud-platform", "openid"}, "https://www.googleapis.com/auth/cloud-platform,openid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != tokenPath {
					t.Errorf("got path %q; want %q", r.URL.Path, tokenPath)
				}
				got, ok := r.URL.Query()["scopes"]
				if (tt.wantScopes == "") == ok || (ok && got[0] != tt.wantScopes) {
					t.Errorf("got scopes = %q; want %q", got, tt.wantScopes)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"access_token":"ya29.md","expires_in":3599,"token_type":"Bearer"}`))
			})
			c := metadataCreds(t, host)
			tp, err := c.AccessTokenSource(tt.scopes)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tp.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != "ya29.md" || tok.Kind != gcptoken.AccessToken || tok.TokenType() != "Bearer" {
				t.Errorf("got token %q kind %q type %q; want ya29.md access_token Bearer", tok.Value, tok.Kind, tok.TokenType())
			}
			if d := time.Until(tok.Expiry); d < 3500*time.Second || d > 3600*time.Second {
				t.Errorf("got expiry in %v; want about 3599s", d)
			}
		})
	}
}

func TestMetadataAccessTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		noFlavor      bool
		wantTemporary bool
		want          []string
	}{
		{"zero expires_in", 200, `{"access_token":"ya29.md","expires_in":0}`, false, false, []string{"no positive expires_in"}},
		{"negative expires_in", 200, `{"access_token":"ya29.md","expires_in":-5}`, false, false, []string{"no positive expires_in"}},
		{"empty token", 200, `{"access_token":"","expires_in":3599}`, false, false, []string{"no access_token"}},
		{"not JSON", 200, `<html>`, false, false, []string{"malformed response"}},
		{"404", 404, "<html>Error 404 (Not Found)!!1</html>", false, false, []string{"HTTP 404: not defined on this metadata server", "is a service account attached"}},
		{"503", 503, "busy", false, true, []string{"HTTP 503: busy"}},
		{"200 without flavor", 200, `{"access_token":"ya29.md","expires_in":3599}`, true, false, []string{"is not a metadata server (no Metadata-Flavor: Google response header; it answered HTTP 200)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.noFlavor {
					w.Header().Del("Metadata-Flavor")
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			})
			tp, _ := metadataCreds(t, host).AccessTokenSource(nil)
			_, err := tp.Token(t.Context())
			wantErrContains(t, err, append([]string{"fetch access token from http://" + host + tokenPath}, tt.want...)...)
			if got := gcptoken.IsTemporary(err); got != tt.wantTemporary {
				t.Errorf("IsTemporary(%v) = %v; want %v", err, got, tt.wantTemporary)
			}
		})
	}
}

func TestMetadataUnreachable(t *testing.T) {
	t.Parallel()
	c := metadataCreds(t, closedHost(t))
	tp, _ := c.AccessTokenSource(nil)
	_, err := tp.Token(t.Context())
	if !gcptoken.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false; want true", err)
	}
	var ge *gcptoken.Error
	if !errors.As(err, &ge) || ge.StatusCode != 0 {
		t.Errorf("got error %#v; want a *gcptoken.Error without status", err)
	}
}

func TestMetadataIDToken(t *testing.T) {
	t.Parallel()
	const aud = "https://svc.example.com/?a=b&c"
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	jwt := fakeJWT(t, map[string]any{"aud": aud, "exp": exp.Unix(), "iss": "https://accounts.google.com"})
	host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != identityPath {
			t.Errorf("got path %q; want %q", r.URL.Path, identityPath)
		}
		q := r.URL.Query()
		if q.Get("audience") != aud || q.Get("format") != "full" {
			t.Errorf("got query %q; want audience=%q and format=full", r.URL.RawQuery, aud)
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(jwt + "\n"))
	})
	c := metadataCreds(t, host)
	tp, err := c.IDTokenSource(aud, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tp.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != jwt || tok.Kind != gcptoken.IDToken {
		t.Errorf("got token %q kind %q; want the JWT, kind id_token", tok.Value, tok.Kind)
	}
	if !tok.Expiry.Equal(exp) {
		t.Errorf("got Expiry = %v; want %v", tok.Expiry, exp)
	}
	if got := tok.Metadata[gcptoken.MetaAudience]; got != aud {
		t.Errorf("got Metadata[audience] = %q; want %q", got, aud)
	}
	wantEP := []string{"http://" + host + tokenPath, "http://" + host + identityPath}
	if got := c.TokenEndpoints(); !slices.Equal(got, wantEP) {
		t.Errorf("got TokenEndpoints() = %q; want %q", got, wantEP)
	}
	if got, want := c.Identity(), "compute_metadata|http://"+host+"|"; got != want {
		t.Errorf("got Identity() = %q; want %q", got, want)
	}
}

func TestMetadataIDTokenOptions(t *testing.T) {
	t.Parallel()
	const aud = "https://svc.example.com"
	tests := []struct {
		name         string
		opts         *IDTokenOptions
		wantFormat   string
		wantLicenses string // "" = parameter absent
	}{
		{"no options", nil, "full", ""},
		{"zero options", &IDTokenOptions{}, "full", ""},
		{"full", &IDTokenOptions{TokenFormat: TokenFormatFull}, "full", "FALSE"},
		{"standard", &IDTokenOptions{TokenFormat: TokenFormatStandard}, "standard", "FALSE"},
		{"licenses", &IDTokenOptions{Licenses: true}, "full", "TRUE"},
		{"full with licenses", &IDTokenOptions{TokenFormat: "full", Licenses: true}, "full", "TRUE"},
		{"standard with licenses: passed on", &IDTokenOptions{TokenFormat: "standard", Licenses: true}, "standard", "TRUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jwt := fakeJWT(t, map[string]any{"aud": aud, "exp": soon})
			host := fakeMetadata(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != identityPath {
					t.Errorf("got path %q; want %q", r.URL.Path, identityPath)
				}
				q := r.URL.Query()
				want := url.Values{"audience": {aud}, "format": {tt.wantFormat}}
				if tt.wantLicenses != "" {
					want.Set("licenses", tt.wantLicenses)
				}
				if got := q.Encode(); got != want.Encode() {
					t.Errorf("got query %q; want %q", got, want.Encode())
				}
				w.Write([]byte(jwt))
			})
			tp, err := metadataCreds(t, host).IDTokenSource(aud, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tp.Token(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// allKinds returns one credential of each type; the metadata server's and
// the token endpoint's answers are given by the caller's servers.
func allKinds(t *testing.T, tokenURL, mdHost string) map[string]*Credentials {
	t.Helper()
	sa, err := FromJSON(mustJSON(t, saFile(t, tokenURL)), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	au, err := FromJSON(mustJSON(t, auFile(tokenURL)), isolated(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Credentials{TypeServiceAccount: sa, TypeAuthorizedUser: au, TypeComputeMetadata: metadataCreds(t, mdHost)}
}

func TestIDTokenInvalidFormat(t *testing.T) {
	t.Parallel()
	creds := allKinds(t, closedURL(t), closedHost(t))
	for _, format := range []string{"Full", "STANDARD", "minimal", " full"} {
		for typ, c := range creds {
			t.Run(typ+"/"+format, func(t *testing.T) {
				t.Parallel()
				_, err := c.IDTokenSource("https://svc.example.com", &IDTokenOptions{TokenFormat: format})
				wantErrContains(t, err, `IDTokenOptions.TokenFormat "`+format+`" is not a format`, `"standard" or "full"`)
			})
		}
	}
}

// TestIDTokenOptionsIgnoredByOtherCredentials checks that credentials which
// cannot add Compute Engine claims make the same requests with and without
// the options: checkAssertion and checkRefresh refuse unexpected fields.
func TestIDTokenOptionsIgnoredByOtherCredentials(t *testing.T) {
	t.Parallel()
	const aud = "https://svc.example.com"
	optionSets := map[string]*IDTokenOptions{
		"full with licenses": {TokenFormat: "full", Licenses: true},
		"standard":           {TokenFormat: "standard"},
		"include email":      {IncludeEmail: true},
	}
	for name, opts := range optionSets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ts *tokenServer
			ts = newTokenServer(t, func(t *testing.T, form url.Values) (int, any) {
				if form.Get("grant_type") == "refresh_token" {
					checkRefresh(t, form, "", false)
					return 200, map[string]any{"access_token": "ya29.user", "expires_in": 3599,
						"id_token": fakeJWT(t, map[string]any{"aud": testClientID, "exp": soon})}
				}
				c := checkAssertion(t, form, ts.tokenURL())
				for k := range c {
					switch k {
					case "iss", "aud", "iat", "exp", "target_audience":
					default:
						t.Errorf("got assertion claim %q; want only iss, aud, iat, exp and target_audience", k)
					}
				}
				return 200, map[string]any{"id_token": fakeJWT(t, map[string]any{"aud": aud, "exp": soon})}
			})
			creds := allKinds(t, ts.tokenURL(), closedHost(t))
			for _, typ := range []string{TypeServiceAccount, TypeAuthorizedUser} {
				tp, err := creds[typ].IDTokenSource(aud, opts)
				if err != nil {
					t.Fatalf("%s: IDTokenProvider: %v", typ, err)
				}
				tok, err := tp.Token(t.Context())
				if err != nil {
					t.Fatalf("%s: Token: %v", typ, err)
				}
				if tok.Kind != gcptoken.IDToken {
					t.Errorf("%s: got Kind = %q; want %q", typ, tok.Kind, gcptoken.IDToken)
				}
			}
		})
	}
}

func TestSupportsTokenFormatAndMetadata(t *testing.T) {
	t.Parallel()
	host := closedHost(t)
	creds := allKinds(t, closedURL(t), host)
	creds["zero value"] = &Credentials{Type: TypeComputeMetadata}
	for typ, c := range creds {
		want := typ == TypeComputeMetadata
		if got := c.SupportsTokenFormat(); got != want {
			t.Errorf("%s: SupportsTokenFormat() = %v; want %v", typ, got, want)
		}
		md := c.Metadata()
		if (md != nil) != want {
			t.Errorf("%s: Metadata() = %v; want non-nil = %v", typ, md, want)
		}
		if md != nil {
			if got, want := md.URL("project/project-id"), "http://"+host+projectPath; got != want {
				t.Errorf("%s: Metadata().URL = %q; want %q", typ, got, want)
			}
		}
	}
}

// reply is a fake metadata server's answer to one path.
type reply struct {
	status   int // 0 = 200
	body     string
	noFlavor bool
	hang     bool // answer only when the request is canceled
}

// routedMetadata is a fake metadata server answering paths from routes and
// failing the test on any other path. It asserts the request header.
func routedMetadata(t *testing.T, routes map[string]reply) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("got method %q; want GET", r.Method)
		}
		if got := r.Header.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("%s: got Metadata-Flavor = %q; want Google", r.URL.Path, got)
		}
		rp, ok := routes[r.URL.Path]
		if !ok {
			t.Errorf("unexpected request for %q", r.URL)
			rp = reply{status: 404}
		}
		if rp.hang {
			<-r.Context().Done()
			return
		}
		if !rp.noFlavor {
			w.Header().Set("Metadata-Flavor", "Google")
		}
		w.Header().Set("Content-Type", "application/text")
		if rp.status != 0 {
			w.WriteHeader(rp.status)
		}
		w.Write([]byte(rp.body))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestMetadataClient(t *testing.T) {
	t.Parallel()
	type call func(*MetadataClient, *testing.T) (any, error)
	get := func(path string) call {
		return func(m *MetadataClient, t *testing.T) (any, error) { return m.Get(t.Context(), path) }
	}
	email := func(m *MetadataClient, t *testing.T) (any, error) { return m.Email(t.Context()) }
	project := func(m *MetadataClient, t *testing.T) (any, error) { return m.ProjectID(t.Context()) }
	number := func(m *MetadataClient, t *testing.T) (any, error) { return m.NumericProjectID(t.Context()) }
	universe := func(m *MetadataClient, t *testing.T) (any, error) { return m.UniverseDomain(t.Context()) }
	scopes := func(m *MetadataClient, t *testing.T) (any, error) { return m.Scopes(t.Context()) }

	tests := []struct {
		name         string
		path         string // as the server sees it
		reply        reply
		call         call
		want         any
		wantErr      []string
		wantNotDef   bool
		wantStatus   int // of a *gcptoken.Error; 0 = none expected
		wantDuration time.Duration
	}{
		{name: "Get is raw", path: metadataPrefix + "instance/zone", reply: reply{body: "projects/1/zones/z-a\n"},
			call: get("instance/zone"), want: "projects/1/zones/z-a\n"},
		{name: "Get tolerates a leading slash", path: metadataPrefix + "instance/id", reply: reply{body: "42"},
			call: get("/instance/id"), want: "42"},
		{name: "Email", path: emailPath, reply: reply{body: " robot@p.iam.gserviceaccount.com\n"},
			call: email, want: "robot@p.iam.gserviceaccount.com"},
		{name: "ProjectID is trimmed", path: projectPath, reply: reply{body: "my-proj\n"},
			call: project, want: "my-proj"},
		{name: "NumericProjectID", path: metadataPrefix + mdNumericProjPath, reply: reply{body: "716149158341"},
			call: number, want: "716149158341"},
		{name: "Scopes", path: metadataPrefix + mdScopesPath, reply: reply{body: "https://www.googleapis.com/auth/cloud-platform\nopenid\n"},
			call: scopes, want: []string{"https://www.googleapis.com/auth/cloud-platform", "openid"}},
		{name: "UniverseDomain", path: universePath, reply: reply{body: "example-universe.com\n"},
			call: universe, want: "example-universe.com"},
		{name: "UniverseDomain 404 is the default", path: universePath, reply: reply{status: 404, body: "<html>"},
			call: universe, want: DefaultUniverseDomain},
		{name: "UniverseDomain empty is the default", path: universePath, reply: reply{body: "\n"},
			call: universe, want: DefaultUniverseDomain},
		{name: "UniverseDomain 500 is an error", path: universePath, reply: reply{status: 500, body: "oops"},
			call: universe, wantErr: []string{"HTTP 500: oops"}, wantStatus: 500},
		{name: "UniverseDomain gives up after a second", path: universePath, reply: reply{hang: true},
			call: universe, wantErr: []string{"context deadline exceeded"}, wantDuration: 3 * time.Second},
		{name: "404 is not defined", path: projectPath, reply: reply{status: 404, body: "<html>Error 404 (Not Found)!!1</html>"},
			call: project, wantNotDef: true, wantStatus: 404,
			wantErr: []string{"read metadata from http://{host}" + projectPath + ": HTTP 404: not defined on this metadata server"}},
		{name: "500 is a *gcptoken.Error", path: emailPath, reply: reply{status: 500, body: "internal"},
			call: email, wantStatus: 500, wantErr: []string{"read metadata from http://{host}" + emailPath + ": HTTP 500: internal"}},
		{name: "403 is a *gcptoken.Error", path: metadataPrefix + "instance/id", reply: reply{status: 403, body: `Missing required header "Metadata-Flavor": "Google"`},
			call: get("instance/id"), wantStatus: 403, wantErr: []string{"HTTP 403"}},
		{name: "200 without flavor header", path: emailPath, reply: reply{body: "robot@x", noFlavor: true},
			call: email, wantErr: []string{"http://{host} is not a metadata server (no Metadata-Flavor: Google response header; it answered HTTP 200)"}},
		{name: "404 without flavor header", path: emailPath, reply: reply{status: 404, noFlavor: true},
			call: email, wantErr: []string{"is not a metadata server"}},
		{name: "body too large", path: metadataPrefix + "instance/attributes/big", reply: reply{body: strings.Repeat("x", metadataMaxBody+1)},
			call: get("instance/attributes/big"), wantErr: []string{"larger than 1048576 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := routedMetadata(t, map[string]reply{tt.path: tt.reply})
			m := NewMetadataClient(host, nil)
			start := time.Now()
			got, err := tt.call(m, t)
			if tt.wantDuration > 0 {
				if d := time.Since(start); d > tt.wantDuration || d < universeDomainTimeout {
					t.Errorf("took %v; want about %v", d, universeDomainTimeout)
				}
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !equalAny(got, tt.want) {
					t.Errorf("got %q; want %q", got, tt.want)
				}
				return
			}
			for i := range tt.wantErr {
				tt.wantErr[i] = strings.ReplaceAll(tt.wantErr[i], "{host}", host)
			}
			wantErrContains(t, err, tt.wantErr...)
			if got := errors.Is(err, ErrMetadataNotDefined); got != tt.wantNotDef {
				t.Errorf("errors.Is(%v, ErrMetadataNotDefined) = %v; want %v", err, got, tt.wantNotDef)
			}
			var ge *gcptoken.Error
			ok := errors.As(err, &ge)
			switch {
			case tt.wantStatus != 0 && (!ok || ge.StatusCode != tt.wantStatus):
				t.Errorf("errors.As(%v, *gcptoken.Error) = %v (%+v); want status %d", err, ok, ge, tt.wantStatus)
			case tt.wantStatus == 0 && ok && ge.StatusCode != 0:
				t.Errorf("got a *gcptoken.Error with status %d; want none", ge.StatusCode)
			}
		})
	}
}

func equalAny(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, ok := b.([]string)
		return ok && slices.Equal(as, bs)
	}
	return a == b
}

func TestNewMetadataClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host    string
		wantURL string
		wantErr string
	}{
		{"", "http://169.254.169.254/computeMetadata/v1/project/project-id", ""},
		{"metadata.google.internal", "http://metadata.google.internal/computeMetadata/v1/project/project-id", ""},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/computeMetadata/v1/project/project-id", ""},
		{"bad host/path", "", `metadata host: "bad host/path" is not a host[:port]`},
	}
	for _, tt := range tests {
		m := NewMetadataClient(tt.host, nil)
		if tt.wantErr != "" {
			_, err := m.ProjectID(t.Context())
			wantErrContains(t, err, tt.wantErr)
			continue
		}
		if got := m.URL("project/project-id"); got != tt.wantURL {
			t.Errorf("NewMetadataClient(%q).URL(…) = %q; want %q", tt.host, got, tt.wantURL)
		}
	}
}
