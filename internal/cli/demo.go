package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/fakegoogle/console"
	"github.com/gcptoken/gcptoken/fakegoogle/emulator"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

func newDemoCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Walk through getting and using tokens, against an in-process fake Google",
		Long: `Start the fake Google in-process on a loopback port and walk through the
common story end to end: an access token for scopes, an ID token for a
protected service, its decoded claims, and calls to that service with the
token (200) and without it (401); then user credentials, impersonation of
another service account, and a workload on AWS reaching the service through
workload identity federation (no Google key). Needs no network and no
set-up. Tokens are shown shortened.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demoRun(cmd.Context(), app)
		},
	}
}

// demo is the walkthrough: the emulator it runs on, and what one step
// hands on to the next.
type demo struct {
	app  *App
	w    *demoWriter
	info emulator.Info
	fake *fakegoogle.Server

	sa       *credentials.Credentials // the emulator's service-account.json
	audience string                   // the sample service's URL
	target   string                   // a call of the sample service
	idToken  string                   // the service account's, for audience
	// The sample service's answers with and without a token.
	okStatus, unauthStatus int
}

func demoRun(ctx context.Context, app *App) error {
	dir, err := os.MkdirTemp("", "gcptoken-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	em, err := emulator.New(&emulator.Options{StateDir: dir, Now: app.Now})
	if err != nil {
		return fmt.Errorf("demo: start the fake Google: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- em.Serve(ctx) }()
	defer func() { stop(); <-served }()

	d := &demo{app: app, w: &demoWriter{out: app.Out}, info: em.Info(), fake: em.Fake()}
	d.audience = d.info.SampleServiceURL
	d.target = d.audience
	for _, step := range []func(context.Context) error{
		d.intro, d.serviceAccountAccessToken, d.serviceAccountIDToken, d.idTokenClaims,
		d.callSampleService, d.userCredentials, d.impersonation, d.federation,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return d.done()
}

// credentials reads one of the emulator's credential files.
func (d *demo) credentials(path string, getenv func(string) string) (*credentials.Credentials, error) {
	return credentials.FromFile(path, &credentials.Options{HTTPClient: d.app.HTTPClient, Getenv: getenv})
}

// sampleBody is what the demo posts to the sample service: the seed's
// call, requests.post(url, headers=…, json={"start": 1, "end": 5}).
const sampleBody = `{"start": 1, "end": 5}`

// call calls the sample service with token ("" for none) and prints the
// answer as the field name.
func (d *demo) call(ctx context.Context, name, token string) (int, error) {
	status, body, err := demoPost(ctx, d.app, d.target, token)
	if err != nil {
		return 0, err
	}
	d.w.field(name, fmt.Sprintf("HTTP %d %s", status, body))
	return status, nil
}

// intro is step 0.
func (d *demo) intro(context.Context) error {
	d.w.heading("0. A fake Google is running at %s", d.info.URL)
	d.w.line("It serves the OAuth token endpoint, tokeninfo, certs, IAM Credentials, STS, fake AWS instance")
	d.w.line("metadata and a protected sample service.")
	return nil
}

func (d *demo) serviceAccountAccessToken(ctx context.Context) error {
	d.w.heading("1. Service-account key -> access token")
	d.w.line("Like: gcloud auth print-access-token / google.auth.default() + credentials.refresh()")
	var err error
	if d.sa, err = d.credentials(d.info.ServiceAccountFile, d.app.Getenv); err != nil {
		return err
	}
	at, err := demoToken(ctx, d.app, d.sa.AccessTokenSource, []string{credentials.ScopeCloudPlatform})
	if err != nil {
		return err
	}
	d.w.field("credential", fmt.Sprintf("%s %s", d.sa.Type, d.sa.Principal))
	d.w.field("token endpoint", strings.Join(d.sa.TokenEndpoints(), ", "))
	d.w.field("access token", shorten(at.Value))
	d.w.field("requested scope", credentials.ScopeCloudPlatform)
	d.w.field("expires", jwtinfo.Describe(at.Expiry.Sub(d.app.Now())))
	return nil
}

func (d *demo) serviceAccountIDToken(ctx context.Context) error {
	d.w.heading("2. Service-account key -> ID token for the sample service")
	d.w.line("Like: gcloud auth print-identity-token --audiences=URL /")
	d.w.line("      service_account.IDTokenCredentials.from_service_account_file(key, target_audience=URL)")
	idt, err := demoToken(ctx, d.app, func([]string) (gcptoken.TokenProvider, error) {
		return d.sa.IDTokenSource(d.audience, nil)
	}, nil)
	if err != nil {
		return err
	}
	d.idToken = idt.Value
	d.w.field("audience", d.audience)
	d.w.field("ID token", shorten(idt.Value))
	return nil
}

func (d *demo) idTokenClaims(context.Context) error {
	d.w.heading("3. The ID token's claims (decoded with `gcptoken info`)")
	dec, err := jwtinfo.Decode(d.idToken)
	if err != nil {
		return err
	}
	for _, k := range []string{"iss", "aud", "azp", "email", "sub"} {
		d.w.field(k, fmt.Sprint(dec.Claims[k]))
	}
	if exp, ok := dec.Expiry(); ok {
		d.w.field("exp", fmt.Sprintf("%s (%s)", exp.UTC().Format(time.RFC3339), jwtinfo.Describe(exp.Sub(d.app.Now()))))
	}
	return nil
}

func (d *demo) callSampleService(ctx context.Context) error {
	d.w.heading("4. Call the protected sample service (a private Cloud Function's stand-in)")
	d.w.line("Like: requests.post(URL, headers={\"Authorization\": f\"Bearer {id_token}\"}, json={\"start\": 1, \"end\": 5})")
	d.w.line("  or: gcptoken curl -X POST -H 'Content-Type: application/json' -d '" + sampleBody + "' URL")
	var err error
	if d.okStatus, err = d.call(ctx, "with the ID token", d.idToken); err != nil {
		return err
	}
	d.unauthStatus, err = d.call(ctx, "without a token", "")
	return err
}

func (d *demo) userCredentials(ctx context.Context) error {
	d.w.heading("5. User credentials (authorized_user) -> access token and ID token")
	d.w.line("Like: gcloud auth application-default login, then print-access-token")
	user, err := d.credentials(d.info.AuthorizedUserFile, d.app.Getenv)
	if err != nil {
		return err
	}
	userSrc, err := user.AccessTokenSource(nil)
	if err != nil {
		return err
	}
	uat, err := userSrc.Token(ctx)
	if err != nil {
		return err
	}
	d.w.field("credential", fmt.Sprintf("%s (client %s)", user.Type, user.ClientID))
	d.w.field("access token", shorten(uat.Value))
	d.w.field("granted scope", uat.Metadata[gcptoken.MetaScope])
	userID, err := user.IDTokenSource(d.audience, nil)
	if err != nil {
		return err
	}
	uid, err := userID.Token(ctx)
	if err != nil {
		return err
	}
	d.w.field("ID token audience", uid.Metadata[gcptoken.MetaAudience])
	d.w.line("User credentials cannot choose an ID token's audience: it is the OAuth client,")
	d.w.line("so a service that requires its own URL as audience refuses this token:")
	_, err = d.call(ctx, "with the user's ID token", uid.Value)
	return err
}

func (d *demo) impersonation(ctx context.Context) error {
	d.w.heading("6. Impersonation: the service account acts as another one")
	d.w.line("Like: gcloud auth print-identity-token --impersonate-service-account=TARGET --audiences=URL")
	imp, err := credentials.Impersonate(d.sa, &credentials.ImpersonateOptions{
		Target:      fakegoogle.DefaultTargetServiceAccount,
		IAMEndpoint: d.fake.IAMCredentialsURL(),
	})
	if err != nil {
		return err
	}
	impID, err := imp.IDTokenSource(d.audience, &credentials.IDTokenOptions{IncludeEmail: true})
	if err != nil {
		return err
	}
	impTok, err := impID.Token(ctx)
	if err != nil {
		return err
	}
	d.w.field("source", d.sa.Principal)
	d.w.field("target", imp.Principal)
	d.w.field("ID token", shorten(impTok.Value))
	_, err = d.call(ctx, "with the target's ID token", impTok.Value)
	return err
}

// federation is step 7: a workload on AWS, without any Google key, calls
// the sample service through workload identity federation, with the
// emulator's external-account-aws.json.
func (d *demo) federation(ctx context.Context) error {
	d.w.heading("7. Workload identity federation: an AWS workload, no Google key")
	d.w.line("Like: gcloud iam workload-identity-pools create-cred-config ... --aws, then print-identity-token")
	// The fake's instance metadata plays the EC2 instance; AWS_* variables
	// of the machine running the demo must not take its place.
	getenv := func(k string) string {
		if strings.HasPrefix(k, "AWS_") {
			return ""
		}
		return d.app.Getenv(k)
	}
	ext, err := d.credentials(filepath.Join(d.info.StateDir, "external-account-aws.json"), getenv)
	if err != nil {
		return err
	}
	d.w.line("chain: AWS role credentials (instance metadata, IMDSv2) -> signed GetCallerIdentity")
	d.w.line("       -> STS token exchange -> IAM generateIdToken as the service account")
	idp, err := ext.IDTokenSource(d.audience, &credentials.IDTokenOptions{IncludeEmail: true})
	if err != nil {
		return err
	}
	tok, err := idp.Token(ctx)
	if err != nil {
		return err
	}
	d.w.field("credential", ext.Type+" (audience "+fakegoogle.DefaultAWSAudience+")")
	d.w.field("ID token", shorten(tok.Value))
	status, err := d.call(ctx, "with the federated ID token", tok.Value)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("demo: the sample service answered %d to the federated ID token; want 200", status)
	}
	return nil
}

// done is the last step: the verdict on step 4, and how to run what it
// suggests with the binary that ran the demo.
func (d *demo) done() error {
	d.w.heading("Done")
	if d.okStatus != http.StatusOK || d.unauthStatus != http.StatusUnauthorized {
		return fmt.Errorf("demo: the sample service answered %d with a token and %d without; want 200 and 401", d.okStatus, d.unauthStatus)
	}
	self, where := invocation()
	d.w.line(where)
	d.w.line("Try it yourself: start the fake Google in the background, point your shell at it, call the service:")
	d.w.line("  " + self + " emulator --state-dir ./fake-google &")
	d.w.line("  " + self + " emulator wait --state-dir ./fake-google")
	d.w.line("  . ./fake-google/env.sh")
	d.w.line("  " + self + " curl -X POST -H 'Content-Type: application/json' -d '" + sampleBody + "' \"$GCPTOKEN_SAMPLE_URL\"")
	d.w.line("  " + self + " status")
	d.w.line("  kill %1    # stops the emulator")
	d.w.line("and watch every request, token and grant in its console: " + demoConsoleURL)
	return d.w.err
}

// invocation is how the user can run the binary that runs now, and a line
// saying where it is: "gcptoken" when PATH finds this very binary, else its
// path (relative to the working directory when under it); a binary `go run`
// built in a temporary directory is gone after the run, so the line says
// how to install one.
func invocation() (self, where string) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "gcptoken", "`make install` (or `go install ./cmd/gcptoken`) puts gcptoken on PATH."
	}
	if onPath, err := exec.LookPath("gcptoken"); err == nil {
		if p, err := filepath.EvalSymlinks(onPath); err == nil && p == exe {
			return "gcptoken", "This demo ran " + exe + ", which is on PATH as gcptoken."
		}
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "gcptoken", "`go run` built this demo's binary in a temporary directory; " +
			"`make install` (or `go install ./cmd/gcptoken`) puts gcptoken on PATH for the commands below."
	}
	self = exe
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && !strings.HasPrefix(rel, "..") {
			self = "." + string(filepath.Separator) + rel
		}
	}
	return self, "This demo ran " + self + " (not on PATH; `make install` puts it there, and then it is just gcptoken)."
}

// demoConsoleURL is where `gcptoken emulator`, on its default --listen
// address, serves its web console.
const demoConsoleURL = "http://" + defaultEmulatorListen + console.DefaultPath

// demoToken gets one token from the source src makes for scopes, through
// the in-process cache on the app's clock, as the token commands do.
func demoToken(ctx context.Context, app *App, src func([]string) (gcptoken.TokenProvider, error), scopes []string) (*gcptoken.Token, error) {
	plain, err := src(scopes)
	if err != nil {
		return nil, err
	}
	p, err := gcptoken.NewCachedProvider(plain, &gcptoken.CacheOptions{Now: app.Now})
	if err != nil {
		return nil, err
	}
	return p.Token(ctx)
}

// demoPost posts sampleBody to url, as JSON, with token ("" for none).
func demoPost(ctx context.Context, app *App, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(sampleBody))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := app.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", gcptoken.NewTransportError("call the sample service", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, "", err
	}
	// A refusal says what is wrong in "error" (and what the service
	// expects, which the demo's reader knows by now).
	var refusal struct{ Error string }
	if resp.StatusCode != http.StatusOK && json.Unmarshal(b, &refusal) == nil && refusal.Error != "" {
		return resp.StatusCode, refusal.Error, nil
	}
	return resp.StatusCode, strings.Join(strings.Fields(string(b)), " "), nil
}

// shorten shows enough of a token to recognise it, not to use it.
func shorten(tok string) string {
	if len(tok) <= 16 {
		return "(" + fmt.Sprint(len(tok)) + " characters)"
	}
	return fmt.Sprintf("%s… (%d characters)", tok[:12], len(tok))
}

// demoWriter prints the walkthrough and remembers the first write error.
type demoWriter struct {
	out io.Writer
	err error
}

func (w *demoWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.out, format, args...)
	}
}

func (w *demoWriter) heading(format string, args ...any) {
	w.printf("\n== "+format+" ==\n", args...)
}

func (w *demoWriter) line(s string) { w.printf("   %s\n", s) }

func (w *demoWriter) field(name, value string) { w.printf("   %-28s %s\n", name+":", value) }
