package credentials

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// Facts the fake metadata servers of these tests give about themselves.
const (
	mdEmail     = "123-compute@developer.gserviceaccount.com"
	mdProject   = "md-proj"
	mdFactsNote = "; email: " + mdEmail + "; project: " + mdProject + "; universe: googleapis.com"
)

// mdProbeServer answers GET / like a metadata server (flavor=true) or like
// some other web server (flavor=false), and counts those probes. As a
// metadata server it also tells its email and project; it has no universe
// domain (404), like older servers.
func mdProbeServer(t *testing.T, flavor bool, delay time.Duration) (host string, calls *atomic.Int32) {
	t.Helper()
	calls = new(atomic.Int32)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("got method %s; want GET", r.Method)
		}
		if got := r.Header.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("%s: got Metadata-Flavor = %q; want Google", r.URL.Path, got)
		}
		if flavor {
			w.Header().Set("Metadata-Flavor", "Google")
		}
		switch r.URL.Path {
		case "/":
			calls.Add(1)
			if delay > 0 {
				select {
				case <-time.After(delay):
				case <-r.Context().Done():
				}
			}
			w.Write([]byte("computeMetadata/\n"))
		case emailPath:
			w.Write([]byte(mdEmail + "\n"))
		case projectPath:
			w.Write([]byte(mdProject))
		case universePath:
			http.NotFound(w, r)
		default:
			t.Errorf("unexpected request for %s", r.URL)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://"), calls
}

func closedHost(t *testing.T) string {
	return strings.TrimSuffix(strings.TrimPrefix(closedURL(t), "http://"), "/token")
}

// noGcloudStoreDetail is the gcloud step of a Detect without a GcloudStore.
const noGcloudStoreDetail = "not searched: no Options.GcloudStore (module github.com/gcptoken/gcptoken/credentials/gcloudstore reads gcloud's accounts)"

func TestDetect(t *testing.T) {
	t.Parallel()
	saJSON := mustJSON(t, saFile(t, ""))
	auJSON := mustJSON(t, auFile(""))
	const notTried = "not tried: an earlier source was used"
	const noGcloudStore = noGcloudStoreDetail

	type setup struct {
		opts    *Options
		vars    map[string]string
		mdCalls *atomic.Int32
	}
	tests := []struct {
		name       string
		setup      func(t *testing.T) setup
		wantType   string
		wantSource string // may contain {path} for the file's path
		wantSteps  []Step
		wantMD     int32 // probe requests expected
	}{
		{
			name: "explicit file wins over GOOGLE_APPLICATION_CREDENTIALS",
			setup: func(t *testing.T) setup {
				p := writeFile(t, "explicit.json", saJSON)
				gac := writeFile(t, "gac.json", auJSON)
				return setup{opts: &Options{CredentialsFile: p}, vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": gac}}
			},
			wantType:   "service_account",
			wantSource: `file "{path}" (given explicitly)`,
			wantSteps: []Step{
				{SourceExplicit, true, "{path} (service_account)"},
				{SourceEnv, false, notTried},
				{SourceWellKnown, false, notTried},
				{SourceGcloudAccounts, false, notTried},
				{SourceMetadataServer, false, notTried},
			},
		},
		{
			name: "explicit JSON",
			setup: func(t *testing.T) setup {
				return setup{opts: &Options{CredentialsJSON: auJSON}}
			},
			wantType:   "authorized_user",
			wantSource: "credentials JSON (given explicitly)",
			wantSteps: []Step{
				{SourceExplicit, true, "credentials JSON (authorized_user)"},
				{SourceEnv, false, notTried},
				{SourceWellKnown, false, notTried},
				{SourceGcloudAccounts, false, notTried},
				{SourceMetadataServer, false, notTried},
			},
		},
		{
			name: "GOOGLE_APPLICATION_CREDENTIALS wins over the well-known file",
			setup: func(t *testing.T) setup {
				p := writeFile(t, "gac.json", saJSON)
				sdk := filepath.Dir(writeFile(t, "application_default_credentials.json", auJSON))
				return setup{vars: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": p, "CLOUDSDK_CONFIG": sdk}}
			},
			wantType:   "service_account",
			wantSource: `GOOGLE_APPLICATION_CREDENTIALS="{path}"`,
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, true, "{path} (service_account)"},
				{SourceWellKnown, false, notTried},
				{SourceGcloudAccounts, false, notTried},
				{SourceMetadataServer, false, notTried},
			},
		},
		{
			name: "CLOUDSDK_CONFIG well-known file",
			setup: func(t *testing.T) setup {
				p := writeFile(t, "application_default_credentials.json", auJSON)
				return setup{vars: map[string]string{"CLOUDSDK_CONFIG": filepath.Dir(p)}}
			},
			wantType:   "authorized_user",
			wantSource: `gcloud well-known file "{path}"`,
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, true, "{path} (authorized_user)"},
				{SourceGcloudAccounts, false, notTried},
				{SourceMetadataServer, false, notTried},
			},
		},
		{
			name: "home well-known file",
			setup: func(t *testing.T) setup {
				home := t.TempDir()
				writeFileAt(t, filepath.Join(home, ".config", "gcloud", "application_default_credentials.json"), auJSON)
				return setup{opts: &Options{HomeDir: home}}
			},
			wantType:   "authorized_user",
			wantSource: `gcloud well-known file "{path}"`,
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, true, "{path} (authorized_user)"},
				{SourceGcloudAccounts, false, notTried},
				{SourceMetadataServer, false, notTried},
			},
		},
		{
			name: "MetadataHost is used without a probe",
			setup: func(t *testing.T) setup {
				host, calls := mdProbeServer(t, true, 0)
				return setup{opts: &Options{MetadataHost: host}, mdCalls: calls}
			},
			wantType:   "compute_metadata",
			wantSource: "metadata server at http://{host}",
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, "{wellknown} does not exist"},
				{SourceGcloudAccounts, false, noGcloudStore},
				{SourceMetadataServer, true, "http://{host} (Options.MetadataHost is set; not probed)" + mdFactsNote},
			},
			wantMD: 0,
		},
		{
			name: "GCE_METADATA_HOST is used without a probe",
			setup: func(t *testing.T) setup {
				host, calls := mdProbeServer(t, true, 0)
				return setup{vars: map[string]string{"GCE_METADATA_HOST": host}, mdCalls: calls}
			},
			wantType:   "compute_metadata",
			wantSource: "metadata server at http://{host}",
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, "{wellknown} does not exist"},
				{SourceGcloudAccounts, false, noGcloudStore},
				{SourceMetadataServer, true, "http://{host} (GCE_METADATA_HOST is set; not probed)" + mdFactsNote},
			},
			wantMD: 0,
		},
		{
			name: "GCE_METADATA_HOST is used even with NO_GCE_CHECK",
			setup: func(t *testing.T) setup {
				host, calls := mdProbeServer(t, true, 0)
				return setup{vars: map[string]string{"GCE_METADATA_HOST": host, "NO_GCE_CHECK": "true"}, mdCalls: calls}
			},
			wantType:   "compute_metadata",
			wantSource: "metadata server at http://{host}",
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, "{wellknown} does not exist"},
				{SourceGcloudAccounts, false, noGcloudStore},
				{SourceMetadataServer, true, "http://{host} (GCE_METADATA_HOST is set; not probed)" + mdFactsNote},
			},
			wantMD: 0,
		},
		{
			name: "GCE_METADATA_HOST wins over GCE_METADATA_IP",
			setup: func(t *testing.T) setup {
				host, calls := mdProbeServer(t, true, 0)
				return setup{vars: map[string]string{"GCE_METADATA_HOST": host, "GCE_METADATA_IP": closedHost(t)}, mdCalls: calls}
			},
			wantType:   "compute_metadata",
			wantSource: "metadata server at http://{host}",
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, "{wellknown} does not exist"},
				{SourceGcloudAccounts, false, noGcloudStore},
				{SourceMetadataServer, true, "http://{host} (GCE_METADATA_HOST is set; not probed)" + mdFactsNote},
			},
			wantMD: 0,
		},
		{
			name: "probe of GCE_METADATA_IP finds a metadata server",
			setup: func(t *testing.T) setup {
				host, calls := mdProbeServer(t, true, 0)
				return setup{vars: map[string]string{"GCE_METADATA_IP": "http://" + host}, mdCalls: calls}
			},
			wantType:   "compute_metadata",
			wantSource: "metadata server at http://{host}",
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, "{wellknown} does not exist"},
				{SourceGcloudAccounts, false, noGcloudStore},
				{SourceMetadataServer, true, "GCE_METADATA_HOST not set; probed http://{host} (GCE_METADATA_IP): found (answered with Metadata-Flavor: Google)" + mdFactsNote},
			},
			wantMD: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := tt.setup(t)
			opts := st.opts
			if opts == nil {
				opts = &Options{}
			}
			if opts.HomeDir == "" {
				opts.HomeDir = t.TempDir()
			}
			opts.Getenv = withAPPDATA(env(st.vars), opts.HomeDir)
			c, err := Detect(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			host := opts.MetadataHost + st.vars["GCE_METADATA_HOST"]
			if host == "" {
				host = strings.TrimPrefix(st.vars["GCE_METADATA_IP"], "http://")
			}
			wk := filepath.Join(opts.HomeDir, ".config", "gcloud", "application_default_credentials.json")
			expand := func(s string) string {
				// Sources quote the path with %q (backslashes doubled on
				// Windows); steps show it as it is.
				return strings.NewReplacer(`"{path}"`, strconv.Quote(c.Path), "{path}", c.Path, "{host}", host, "{wellknown}", wk).Replace(s)
			}
			if c.Type != tt.wantType {
				t.Errorf("got Type = %q; want %q", c.Type, tt.wantType)
			}
			if want := expand(tt.wantSource); c.Source != want {
				t.Errorf("got Source = %q; want %q", c.Source, want)
			}
			if len(c.Steps) != len(tt.wantSteps) {
				t.Fatalf("got %d Steps %+v; want %d", len(c.Steps), c.Steps, len(tt.wantSteps))
			}
			for i, want := range tt.wantSteps {
				want.Detail = expand(want.Detail)
				if c.Steps[i] != want {
					t.Errorf("got Steps[%d] = %+v; want %+v", i, c.Steps[i], want)
				}
			}
			if c.Type == TypeComputeMetadata && (c.Principal != mdEmail || c.ProjectID != mdProject || c.UniverseDomain != DefaultUniverseDomain) {
				t.Errorf("got Principal, ProjectID, UniverseDomain = %q, %q, %q; want %q, %q, %q",
					c.Principal, c.ProjectID, c.UniverseDomain, mdEmail, mdProject, DefaultUniverseDomain)
			}
			if st.mdCalls != nil {
				if got := st.mdCalls.Load(); got != tt.wantMD {
					t.Errorf("got %d metadata probe requests; want %d", got, tt.wantMD)
				}
			}
		})
	}
}

func writeFileAt(t *testing.T, path string, data []byte) {
	t.Helper()
	dir, name := filepath.Split(path)
	p := writeFile(t, name, data)
	if err := mkdirAndMove(p, dir, name); err != nil {
		t.Fatal(err)
	}
}

func TestDetectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) *Options
		want  []string
		notIs error // the error must not match this
	}{
		{
			name: "GOOGLE_APPLICATION_CREDENTIALS names a missing file",
			setup: func(t *testing.T) *Options {
				// A good well-known file must not be used instead.
				sdk := filepath.Dir(writeFile(t, "application_default_credentials.json", mustJSON(t, auFile(""))))
				return &Options{Getenv: env(map[string]string{
					"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json",
					"CLOUDSDK_CONFIG":                sdk,
				})}
			},
			want:  []string{`credentials "/nonexistent/key.json" (from GOOGLE_APPLICATION_CREDENTIALS): file does not exist`},
			notIs: ErrNoCredentials,
		},
		{
			name: "broken well-known file is an error, not skipped",
			setup: func(t *testing.T) *Options {
				sdk := filepath.Dir(writeFile(t, "application_default_credentials.json", []byte(`{"type":`)))
				return &Options{Getenv: env(map[string]string{"CLOUDSDK_CONFIG": sdk})}
			},
			want:  []string{`application_default_credentials.json": malformed JSON`},
			notIs: ErrNoCredentials,
		},
		{
			name: "explicit file is missing",
			setup: func(t *testing.T) *Options {
				return &Options{CredentialsFile: "/nonexistent/explicit.json", Getenv: env(nil)}
			},
			want:  []string{`credentials "/nonexistent/explicit.json": file does not exist`},
			notIs: ErrNoCredentials,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.setup(t)
			opts.HomeDir = t.TempDir()
			// Should the search get that far, it finds no metadata server.
			getenv, closed := opts.Getenv, closedHost(t)
			opts.Getenv = func(k string) string {
				if k == "GCE_METADATA_IP" {
					return closed
				}
				return getenv(k)
			}
			_, err := Detect(t.Context(), opts)
			wantErrContains(t, err, tt.want...)
			if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false; want true", err)
			}
			if errors.Is(err, tt.notIs) {
				t.Errorf("errors.Is(%v, %v) = true; want false", err, tt.notIs)
			}
		})
	}
}

func TestDetectMissingFileIsNotExist(t *testing.T) {
	t.Parallel()
	_, err := Detect(t.Context(), &Options{
		Getenv:  env(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(t.TempDir(), "x.json")}),
		HomeDir: t.TempDir(),
	})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false; want true", err)
	}
}

func TestDetectNothingFound(t *testing.T) {
	t.Parallel()
	flavorless, _ := mdProbeServer(t, false, 0)
	slow, _ := mdProbeServer(t, true, 5*time.Second)
	unprobed, unprobedCalls := mdProbeServer(t, true, 0)
	closed := closedHost(t)
	tests := []struct {
		name       string
		vars       map[string]string
		wantDetail string // Steps[4].Detail
	}{
		{"nothing listens", map[string]string{"GCE_METADATA_IP": closed},
			"GCE_METADATA_HOST not set; probed http://" + closed + " (GCE_METADATA_IP): " + dialRefused(t, closed)},
		{"answer without Metadata-Flavor", map[string]string{"GCE_METADATA_IP": flavorless},
			"GCE_METADATA_HOST not set; probed http://" + flavorless + " (GCE_METADATA_IP): answered HTTP 200 without the header Metadata-Flavor: Google; not a metadata server"},
		{"no answer in time", map[string]string{"GCE_METADATA_IP": slow},
			"GCE_METADATA_HOST not set; probed http://" + slow + " (GCE_METADATA_IP): no answer within 50ms"},
		{"NO_GCE_CHECK", map[string]string{"GCE_METADATA_IP": unprobed, "NO_GCE_CHECK": "true"},
			"GCE_METADATA_HOST not set; not probed: NO_GCE_CHECK=true"},
		{"NO_GCE_CHECK=True", map[string]string{"GCE_METADATA_IP": unprobed, "NO_GCE_CHECK": "True"},
			"GCE_METADATA_HOST not set; not probed: NO_GCE_CHECK=true"},
		{"CLOUDSDK_CONFIG without the file", map[string]string{"GCE_METADATA_IP": closed, "CLOUDSDK_CONFIG": "/nonexistent/gcloud"},
			"GCE_METADATA_HOST not set; probed http://" + closed + " (GCE_METADATA_IP): " + dialRefused(t, closed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			// A home well-known file must be ignored when CLOUDSDK_CONFIG is set.
			if tt.vars["CLOUDSDK_CONFIG"] != "" {
				writeFileAt(t, filepath.Join(home, ".config", "gcloud", "application_default_credentials.json"), mustJSON(t, auFile("")))
			}
			start := time.Now()
			_, err := Detect(t.Context(), &Options{
				Getenv:               withAPPDATA(env(tt.vars), home),
				HomeDir:              home,
				MetadataProbeTimeout: 50 * time.Millisecond,
			})
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Detect took %v; want well under the probe server's delay", d)
			}
			for _, target := range []error{ErrNoCredentials, gcptoken.ErrInvalidCredentials} {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false; want true", err, target)
				}
			}
			var nce *NoCredentialsError
			if !errors.As(err, &nce) {
				t.Fatalf("got error %T; want *NoCredentialsError", err)
			}
			wk := filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
			if sdk := tt.vars["CLOUDSDK_CONFIG"]; sdk != "" {
				wk = filepath.Join(sdk, "application_default_credentials.json")
			}
			want := []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, wk + " does not exist"},
				{SourceGcloudAccounts, false, noGcloudStoreDetail},
				{SourceMetadataServer, false, tt.wantDetail},
			}
			if len(nce.Steps) != len(want) {
				t.Fatalf("got Steps = %+v; want %d", nce.Steps, len(want))
			}
			for i, w := range want {
				if nce.Steps[i] != w {
					t.Errorf("got Steps[%d] = %+v; want %+v", i, nce.Steps[i], w)
				}
			}
			wantErrContains(t, err,
				"no Google credentials found",
				"GOOGLE_APPLICATION_CREDENTIALS: not set",
				"gcloud well-known file: "+wk+" does not exist",
				"metadata server: "+tt.wantDetail,
				"set GOOGLE_APPLICATION_CREDENTIALS",
				"gcloud auth application-default login",
				"name a credentials file explicitly",
			)
			if strings.Contains(err.Error(), "--") {
				t.Errorf("the library's error names a CLI flag: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := unprobedCalls.Load(); n != 0 {
			t.Errorf("NO_GCE_CHECK=true: got %d probes; want none", n)
		}
	})
}

func TestDetectCanceled(t *testing.T) {
	t.Parallel()
	slow, _ := mdProbeServer(t, true, 5*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := Detect(ctx, &Options{
		Getenv:               env(map[string]string{"GCE_METADATA_IP": slow}),
		HomeDir:              t.TempDir(),
		MetadataProbeTimeout: 3 * time.Second,
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v; want context.Canceled", err)
	}
	if errors.Is(err, ErrNoCredentials) {
		t.Errorf("errors.Is(%v, ErrNoCredentials) = true; want false: the caller gave up", err)
	}
}

func TestDetectMetadataFacts(t *testing.T) {
	t.Parallel()
	const (
		email = "robot@proj.iam.gserviceaccount.com"
		proj  = "the-project"
	)
	good := map[string]reply{
		emailPath:    {body: email + "\n"},
		projectPath:  {body: proj},
		universePath: {body: "example-universe.com"},
	}
	with := func(path string, r reply) map[string]reply {
		m := maps.Clone(good)
		m[path] = r
		return m
	}
	without := func(path string) map[string]reply {
		m := maps.Clone(good)
		delete(m, path)
		return m
	}
	tests := []struct {
		name          string
		routes        map[string]reply
		vars          map[string]string
		wantPrincipal string
		wantProject   string
		wantUniverse  string
		wantNote      string // the Step's detail after the "not probed" part
	}{
		{
			name: "all known", routes: good,
			wantPrincipal: email, wantProject: proj, wantUniverse: "example-universe.com",
			wantNote: "; email: " + email + "; project: " + proj + "; universe: example-universe.com",
		},
		{
			name: "email fails with 500", routes: with(emailPath, reply{status: 500, body: "boom"}),
			wantProject: proj, wantUniverse: "example-universe.com",
			wantNote: "; email: unavailable: read metadata from http://{host}" + emailPath + ": HTTP 500: boom" +
				"; project: " + proj + "; universe: example-universe.com",
		},
		{
			name: "no service account", routes: with(emailPath, reply{status: 404}),
			wantProject: proj, wantUniverse: "example-universe.com",
			wantNote: "; email: unavailable: read metadata from http://{host}" + emailPath + ": HTTP 404: not defined on this metadata server" +
				"; project: " + proj + "; universe: example-universe.com",
		},
		{
			name: "empty email", routes: with(emailPath, reply{body: "\n"}),
			wantProject: proj, wantUniverse: "example-universe.com",
			wantNote: "; email: unavailable: empty answer; project: " + proj + "; universe: example-universe.com",
		},
		{
			name: "email hangs past the budget", routes: with(emailPath, reply{hang: true}),
			wantProject: proj, wantUniverse: "example-universe.com",
			wantNote: "; email: unavailable: no answer within 200ms; project: " + proj + "; universe: example-universe.com",
		},
		{
			name: "GOOGLE_CLOUD_PROJECT is not asked again", routes: without(projectPath),
			vars:          map[string]string{"GOOGLE_CLOUD_PROJECT": "env-proj"},
			wantPrincipal: email, wantProject: "env-proj", wantUniverse: "example-universe.com",
			wantNote: "; email: " + email + "; project: env-proj (from GOOGLE_CLOUD_PROJECT); universe: example-universe.com",
		},
		{
			name: "project fails", routes: with(projectPath, reply{status: 503, body: "busy"}),
			wantPrincipal: email, wantUniverse: "example-universe.com",
			wantNote: "; email: " + email + "; project: unavailable: read metadata from http://{host}" + projectPath + ": HTTP 503: busy" +
				"; universe: example-universe.com",
		},
		{
			name: "universe 404 is the default", routes: with(universePath, reply{status: 404}),
			wantPrincipal: email, wantProject: proj, wantUniverse: DefaultUniverseDomain,
			wantNote: "; email: " + email + "; project: " + proj + "; universe: googleapis.com",
		},
		{
			name: "universe fails", routes: with(universePath, reply{status: 500, body: "x"}),
			wantPrincipal: email, wantProject: proj, wantUniverse: DefaultUniverseDomain,
			wantNote: "; email: " + email + "; project: " + proj +
				"; universe: unavailable: read metadata from http://{host}" + universePath + ": HTTP 500: x; assuming googleapis.com",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			host := routedMetadata(t, tt.routes)
			vars := maps.Clone(tt.vars)
			if vars == nil {
				vars = map[string]string{}
			}
			vars["GCE_METADATA_HOST"] = host
			opts := isolated(t, vars)
			opts.metadataFactsTimeout = 200 * time.Millisecond
			start := time.Now()
			c, err := Detect(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Detect took %v; want at most about the 200ms budget", d)
			}
			if c.Principal != tt.wantPrincipal || c.ProjectID != tt.wantProject || c.UniverseDomain != tt.wantUniverse {
				t.Errorf("got Principal, ProjectID, UniverseDomain = %q, %q, %q; want %q, %q, %q",
					c.Principal, c.ProjectID, c.UniverseDomain, tt.wantPrincipal, tt.wantProject, tt.wantUniverse)
			}
			want := "http://" + host + " (GCE_METADATA_HOST is set; not probed)" + strings.ReplaceAll(tt.wantNote, "{host}", host)
			if got := c.Steps[4].Detail; got != want {
				t.Errorf("got Steps[4].Detail =\n%s\nwant\n%s", got, want)
			}
			if !c.Steps[4].Used {
				t.Errorf("got Steps[4].Used = false; want true")
			}
		})
	}
}
