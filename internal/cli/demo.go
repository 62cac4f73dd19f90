package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
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

func demoRun(ctx context.Context, app *App) error {
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{Now: app.Now})
	if err != nil {
		return fmt.Errorf("demo: start the fake Google: %w", err)
	}
	defer fake.Close()
	w := &demoWriter{out: app.Out}
	w.heading("0. A fake Google is running at %s", fake.URL)
	w.line("It serves the OAuth token endpoint, tokeninfo, certs, IAM Credentials, STS, fake AWS instance")
	w.line("metadata and a protected sample service.")

	keyJSON, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		return err
	}
	sa, err := credentials.FromJSON(keyJSON, &credentials.Options{HTTPClient: app.HTTPClient, Getenv: app.Getenv})
	if err != nil {
		return err
	}

	w.heading("1. Service-account key -> access token")
	w.line("Like: gcloud auth print-access-token / google.auth.default() + credentials.refresh()")
	at, err := demoToken(ctx, app, sa.AccessTokenSource, []string{credentials.ScopeCloudPlatform})
	if err != nil {
		return err
	}
	w.field("credential", fmt.Sprintf("%s %s", sa.Type, sa.Principal))
	w.field("token endpoint", strings.Join(sa.TokenEndpoints(), ", "))
	w.field("access token", shorten(at.Value))
	w.field("requested scope", credentials.ScopeCloudPlatform)
	w.field("expires", jwtinfo.Describe(at.Expiry.Sub(app.Now())))

	audience := fake.SampleServiceURL()
	w.heading("2. Service-account key -> ID token for the sample service")
	w.line("Like: gcloud auth print-identity-token --audiences=URL /")
	w.line("      service_account.IDTokenCredentials.from_service_account_file(key, target_audience=URL)")
	idt, err := demoToken(ctx, app, func([]string) (gcptoken.TokenProvider, error) {
		return sa.IDTokenSource(audience, nil)
	}, nil)
	if err != nil {
		return err
	}
	w.field("audience", audience)
	w.field("ID token", shorten(idt.Value))

	w.heading("3. The ID token's claims (decoded with `gcptoken info`)")
	d, err := jwtinfo.Decode(idt.Value)
	if err != nil {
		return err
	}
	for _, k := range []string{"iss", "aud", "azp", "email", "sub"} {
		w.field(k, fmt.Sprint(d.Claims[k]))
	}
	if exp, ok := d.Expiry(); ok {
		w.field("exp", fmt.Sprintf("%s (%s)", exp.UTC().Format(time.RFC3339), jwtinfo.Describe(exp.Sub(app.Now()))))
	}

	target := audience + "?start=1&end=5"
	w.heading("4. Call the protected sample service")
	w.line("Like: curl -H \"Authorization: Bearer $(gcloud auth print-identity-token)\" URL")
	status, body, err := demoGet(ctx, app, target, idt.Value)
	if err != nil {
		return err
	}
	w.field("with the ID token", fmt.Sprintf("HTTP %d %s", status, body))
	okStatus := status
	status, body, err = demoGet(ctx, app, target, "")
	if err != nil {
		return err
	}
	w.field("without a token", fmt.Sprintf("HTTP %d %s", status, body))
	unauthStatus := status

	w.heading("5. User credentials (authorized_user) -> access token and ID token")
	w.line("Like: gcloud auth application-default login, then print-access-token")
	rt, err := fake.IssueRefreshToken(fakegoogle.DefaultClientID, fakegoogle.DefaultUser,
		credentials.UserScopes())
	if err != nil {
		return err
	}
	userJSON, err := fake.AuthorizedUserJSON(fakegoogle.DefaultClientID, rt)
	if err != nil {
		return err
	}
	user, err := credentials.FromJSON(userJSON, &credentials.Options{HTTPClient: app.HTTPClient, Getenv: app.Getenv})
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
	w.field("credential", fmt.Sprintf("%s (client %s)", user.Type, user.ClientID))
	w.field("access token", shorten(uat.Value))
	w.field("granted scope", uat.Metadata[gcptoken.MetaScope])
	userID, err := user.IDTokenSource(audience, nil)
	if err != nil {
		return err
	}
	uid, err := userID.Token(ctx)
	if err != nil {
		return err
	}
	w.field("ID token audience", uid.Metadata[gcptoken.MetaAudience])
	w.line("User credentials cannot choose an ID token's audience: it is the OAuth client,")
	w.line("so a service that requires its own URL as audience refuses this token:")
	status, body, err = demoGet(ctx, app, target, uid.Value)
	if err != nil {
		return err
	}
	w.field("with the user's ID token", fmt.Sprintf("HTTP %d %s", status, body))

	w.heading("6. Impersonation: the service account acts as another one")
	w.line("Like: gcloud auth print-identity-token --impersonate-service-account=TARGET --audiences=URL")
	imp, err := credentials.Impersonate(sa, &credentials.ImpersonateOptions{
		Target:      fakegoogle.DefaultTargetServiceAccount,
		IAMEndpoint: fake.IAMCredentialsURL(),
	})
	if err != nil {
		return err
	}
	impID, err := imp.IDTokenSource(audience, &credentials.IDTokenOptions{IncludeEmail: true})
	if err != nil {
		return err
	}
	impTok, err := impID.Token(ctx)
	if err != nil {
		return err
	}
	w.field("source", sa.Principal)
	w.field("target", imp.Principal)
	w.field("ID token", shorten(impTok.Value))
	status, body, err = demoGet(ctx, app, target, impTok.Value)
	if err != nil {
		return err
	}
	w.field("with the target's ID token", fmt.Sprintf("HTTP %d %s", status, body))

	if err := demoFederation(ctx, app, w, fake, audience, target); err != nil {
		return err
	}

	w.heading("Done")
	if okStatus != http.StatusOK || unauthStatus != http.StatusUnauthorized {
		return fmt.Errorf("demo: the sample service answered %d with a token and %d without; want 200 and 401", okStatus, unauthStatus)
	}
	w.line("Try it with real tools:  gcptoken emulator --state-dir ./fake-google  (then: . ./fake-google/env.sh)")
	return w.err
}

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

// demoFederation is step 7: a workload on AWS, without any Google key,
// calls the sample service through workload identity federation.
func demoFederation(ctx context.Context, app *App, w *demoWriter, fake *fakegoogle.Running, audience, target string) error {
	w.heading("7. Workload identity federation: an AWS workload, no Google key")
	w.line("Like: gcloud iam workload-identity-pools create-cred-config ... --aws, then print-identity-token")
	fileJSON, err := fake.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{
		AWS: true, IMDSv2: true, ServiceAccount: fakegoogle.DefaultTargetServiceAccount,
	})
	if err != nil {
		return err
	}
	// The fake's instance metadata plays the EC2 instance; AWS_* variables
	// of the machine running the demo must not take its place.
	getenv := func(k string) string {
		if strings.HasPrefix(k, "AWS_") {
			return ""
		}
		return app.Getenv(k)
	}
	ext, err := credentials.FromJSON(fileJSON, &credentials.Options{HTTPClient: app.HTTPClient, Getenv: getenv})
	if err != nil {
		return err
	}
	w.line("chain: AWS role credentials (instance metadata, IMDSv2) -> signed GetCallerIdentity")
	w.line("       -> STS token exchange -> IAM generateIdToken as the service account")
	idp, err := ext.IDTokenSource(audience, &credentials.IDTokenOptions{IncludeEmail: true})
	if err != nil {
		return err
	}
	tok, err := idp.Token(ctx)
	if err != nil {
		return err
	}
	w.field("credential", ext.Type+" (audience "+fakegoogle.DefaultAWSAudience+")")
	w.field("ID token", shorten(tok.Value))
	status, body, err := demoGet(ctx, app, target, tok.Value)
	if err != nil {
		return err
	}
	w.field("with the federated ID token", fmt.Sprintf("HTTP %d %s", status, body))
	if status != http.StatusOK {
		return fmt.Errorf("demo: the sample service answered %d to the federated ID token; want 200", status)
	}
	return nil
}

func demoGet(ctx context.Context, app *App, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
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
