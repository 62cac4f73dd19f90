package credentials

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// mdProbeServer answers GET / like a metadata server (flavor=true) or like
// some other web server (flavor=false), and counts requests.
func mdProbeServer(t *testing.T, flavor bool, delay time.Duration) (host string, calls *atomic.Int32) {
	t.Helper()
	calls = new(atomic.Int32)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/" {
			t.Errorf("probe: got %s %s; want GET /", r.Method, r.URL.Path)
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
			}
		}
		if flavor {
			w.Header().Set("Metadata-Flavor", "Google")
		}
		w.Write([]byte("computeMetadata/\n"))
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://"), calls
}

func closedHost(t *testing.T) string {
	return strings.TrimSuffix(strings.TrimPrefix(closedURL(t), "http://"), "/token")
}

func TestDetect(t *testing.T) {
	t.Parallel()
	saJSON := mustJSON(t, saFile(t, ""))
	auJSON := mustJSON(t, auFile(""))
	const notTried = "not tried: an earlier source was used"

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
				{SourceMetadataServer, true, "http://{host} (Options.MetadataHost is set; not probed)"},
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
				{SourceMetadataServer, true, "http://{host} (GCE_METADATA_HOST is set; not probed)"},
			},
			wantMD: 0,
		},
		{
			name: "probe finds a metadata server",
			setup: func(t *testing.T) setup {
				host, calls := mdProbeServer(t, true, 0)
				return setup{opts: &Options{probeHost: host}, mdCalls: calls}
			},
			wantType:   "compute_metadata",
			wantSource: "metadata server at http://{host}",
			wantSteps: []Step{
				{SourceExplicit, false, "not given"},
				{SourceEnv, false, "not set"},
				{SourceWellKnown, false, "{wellknown} does not exist"},
				{SourceMetadataServer, true, "http://{host} answered with Metadata-Flavor: Google"},
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
			opts.Getenv = env(st.vars)
			if opts.HomeDir == "" {
				opts.HomeDir = t.TempDir()
			}
			c, err := Detect(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			host := strings.TrimPrefix(opts.MetadataHost+st.vars["GCE_METADATA_HOST"]+opts.probeHost, "http://")
			wk := filepath.Join(opts.HomeDir, ".config", "gcloud", "application_default_credentials.json")
			expand := func(s string) string {
				return strings.NewReplacer("{path}", c.Path, "{host}", host, "{wellknown}", wk).Replace(s)
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
			opts.probeHost = closedHost(t)
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
	tests := []struct {
		name       string
		probeHost  string
		vars       map[string]string
		wantDetail string
	}{
		{"nothing listens", closedHost(t), nil, "connection refused"},
		{"answer without Metadata-Flavor", flavorless, nil, "answered HTTP 200 without the header Metadata-Flavor: Google"},
		{"no answer in time", slow, nil, "no answer within 50ms"},
		{"CLOUDSDK_CONFIG without the file", closedHost(t), map[string]string{"CLOUDSDK_CONFIG": "/nonexistent/gcloud"}, "connection refused"},
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
				Getenv:               env(tt.vars),
				HomeDir:              home,
				MetadataProbeTimeout: 50 * time.Millisecond,
				probeHost:            tt.probeHost,
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
			}
			if len(nce.Steps) != 4 {
				t.Fatalf("got Steps = %+v; want 4", nce.Steps)
			}
			for i, w := range want {
				if nce.Steps[i] != w {
					t.Errorf("got Steps[%d] = %+v; want %+v", i, nce.Steps[i], w)
				}
			}
			if s := nce.Steps[3]; s.Source != SourceMetadataServer || s.Used || !strings.Contains(s.Detail, tt.wantDetail) {
				t.Errorf("got Steps[3] = %+v; want an unused metadata server step mentioning %q", s, tt.wantDetail)
			}
			wantErrContains(t, err,
				"no Google credentials found",
				"GOOGLE_APPLICATION_CREDENTIALS: not set",
				"gcloud well-known file: "+wk+" does not exist",
				"metadata server: none at http://"+tt.probeHost,
				"set GOOGLE_APPLICATION_CREDENTIALS",
				"gcloud auth application-default login",
				"pass a credentials file",
			)
		})
	}
}

func TestDetectCanceled(t *testing.T) {
	t.Parallel()
	slow, _ := mdProbeServer(t, true, 5*time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := Detect(ctx, &Options{Getenv: env(nil), HomeDir: t.TempDir(), MetadataProbeTimeout: 3 * time.Second, probeHost: slow})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v; want context.Canceled", err)
	}
	if errors.Is(err, ErrNoCredentials) {
		t.Errorf("errors.Is(%v, ErrNoCredentials) = true; want false: the caller gave up", err)
	}
}
