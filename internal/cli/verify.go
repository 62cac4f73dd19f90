package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/idtoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

// envCertsURL names the JWKS that verify uses when --certs-url is not
// given. It does not apply to --iap, whose keys live elsewhere;
// GCPTOKEN_EMULATOR_HOST (the emulator's env.sh) moves both.
const envCertsURL = endpoints.EnvCertsURL

type verifyOptions struct {
	audiences       []string
	issuers         []string
	certsURL        string
	iap             bool
	allowedEmails   []string
	noAudienceCheck bool
	format          string
}

func newVerifyCmd(app *App) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [TOKEN|-] --audience AUDIENCE",
		Short: "Verify a Google-signed ID token (signature, issuer, audience, expiry)",
		Long: `Verify an ID token the way a service receiving it should: the signature
against Google's published keys, the algorithm (RS256; ES256 with --iap),
the issuer, the audience and the expiry (with 30 seconds of clock skew).
With no argument or "-", the token is read from standard input; an
"Authorization: Bearer" prefix is dropped.

The keys come from --certs-url, else $` + envCertsURL + `, else the
emulator's ($` + envEmulatorHost + `), else Google's
https://www.googleapis.com/oauth2/v3/certs. --iap checks an Identity-Aware
Proxy assertion instead: ES256, issuer https://cloud.google.com/iap, keys
from https://www.gstatic.com/iap/verify/public_key-jwk (or --certs-url).

A rejected token exits 3 with the reason; unreachable keys exit 4.`,
		Example: `  gcptoken print-identity-token --audience "$URL" | gcptoken verify --audience "$URL"
  gcptoken verify "$TOKEN" --audience "$URL" --allowed-email deployer@my-project.iam.gserviceaccount.com
  gcptoken verify "$IAP_JWT" --iap --audience /projects/123456/global/backendServices/789`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return verifyRun(cmd, app, o, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.audiences, "audience", nil, "accepted `AUDIENCE` (repeatable or comma-separated: any one of them; required unless --no-audience-check)")
	f.StringArrayVar(&o.issuers, "issuer", nil, "accepted `ISSUER` (repeatable; default Google's, or IAP's with --iap)")
	f.StringVar(&o.certsURL, "certs-url", "", "JWKS `URL` of the signing keys (default $"+envCertsURL+", else Google's)")
	f.BoolVar(&o.iap, "iap", false, "verify an Identity-Aware Proxy assertion (ES256, IAP issuer and keys)")
	f.StringArrayVar(&o.allowedEmails, "allowed-email", nil, "accept only tokens for this verified `EMAIL` (repeatable; case-insensitive)")
	f.BoolVar(&o.noAudienceCheck, "no-audience-check", false, "accept any audience (inspection only: a service must check its audience)")
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	bindTimeout(cmd, app, 0)
	return cmd
}

func verifyRun(cmd *cobra.Command, app *App, o *verifyOptions, args []string) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	switch {
	case len(o.audiences) == 0 && !o.noAudienceCheck:
		return usagef("verify: --audience is required: the audience the token must be for (or --no-audience-check)")
	case len(o.audiences) > 0 && o.noAudienceCheck:
		return usagef("verify: --audience and --no-audience-check contradict each other")
	case slices.Contains(o.audiences, "") || slices.Contains(o.issuers, "") || slices.Contains(o.allowedEmails, ""):
		return usagef("verify: --audience, --issuer and --allowed-email values must not be empty")
	}
	certsURL, err := o.keysURL(app)
	if err != nil {
		return err
	}
	token, err := readTokenArg(cmd.Context(), app, "verify", args)
	if err != nil {
		return err
	}
	if err := checkIDTokenShape(token); err != nil {
		return err
	}

	client := app.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	keys, err := idtoken.NewKeySet(&idtoken.KeySetOptions{URL: certsURL, HTTPClient: client, Now: app.Now})
	if err != nil {
		return usagef("verify: %v", err)
	}
	opts := &idtoken.Options{
		Audiences:         o.audiences,
		Issuers:           o.issuers,
		KeySet:            keys,
		Now:               app.Now,
		SkipAudienceCheck: o.noAudienceCheck,
	}
	newVerifier := idtoken.NewVerifier
	if o.iap {
		newVerifier = idtoken.NewIAPVerifier
	}
	v, err := newVerifier(opts)
	if err != nil {
		return usagef("verify: %v", err)
	}
	app.progress.phase("the signing keys", []string{certsURL}, 1)
	claims, err := v.Verify(cmd.Context(), token)
	var ve *idtoken.VerifyError
	switch {
	case err == nil:
	case errors.As(err, &ve) && ve.Reason == idtoken.ReasonKeySet:
		// The token was not judged. Whatever the key endpoint did (down,
		// 5xx, 404, not a JWKS), it is "unavailable" (exit 4), not a verdict.
		return &gcptoken.Error{Op: "verify: cannot get the signing keys", Err: ve.Err}
	case ve != nil:
		// The reason may quote the token's claims.
		return credentialErrorf("verify: token rejected: %s", safetext.OneLine(ve.Message))
	default:
		return fmt.Errorf("verify: %w", err)
	}
	if len(o.allowedEmails) > 0 && !emailAllowed(claims, o.allowedEmails) {
		return credentialErrorf("verify: token rejected: %s", safetext.OneLine(notAllowedReason(claims, o.allowedEmails)))
	}
	return writeVerified(app.Out, o.format, claims, certsURL, app.Now())
}

// emailAllowed applies --allowed-email the way idtoken.Middleware applies
// AllowedEmails: exact match ignoring case, and the email must be verified.
func emailAllowed(c *idtoken.Claims, allowed []string) bool {
	return c.EmailVerified && slices.ContainsFunc(allowed, func(e string) bool { return strings.EqualFold(e, c.Email) })
}

func notAllowedReason(c *idtoken.Claims, allowed []string) string {
	switch {
	case c.Email == "":
		return fmt.Sprintf("the token has no email (subject %q); --allowed-email needs one", c.Subject)
	case !c.EmailVerified:
		return fmt.Sprintf("email %q is not verified", c.Email)
	}
	return fmt.Sprintf("email %q is not one of %q", c.Email, allowed)
}

// verifiedJSON is the --format json output.
type verifiedJSON struct {
	Verified        bool           `json:"verified"`
	Issuer          string         `json:"issuer"`
	Subject         string         `json:"subject"`
	Email           string         `json:"email,omitempty"`
	EmailVerified   bool           `json:"email_verified"`
	Audience        []string       `json:"audience"`
	AuthorizedParty string         `json:"authorized_party,omitempty"`
	IssuedAt        string         `json:"issued_at"`
	Expiry          string         `json:"expiry"`
	ExpiresIn       int64          `json:"expires_in"`
	CertsURL        string         `json:"certs_url"`
	Claims          map[string]any `json:"claims"`
}

func writeVerified(w io.Writer, format string, c *idtoken.Claims, certsURL string, now time.Time) error {
	if format == "json" {
		return writeJSON(w, verifiedJSON{
			Verified: true, Issuer: c.Issuer, Subject: c.Subject, Email: c.Email, EmailVerified: c.EmailVerified,
			Audience: c.Audience, AuthorizedParty: c.AuthorizedParty,
			IssuedAt: c.IssuedAt.UTC().Format(time.RFC3339), Expiry: c.Expiry.UTC().Format(time.RFC3339),
			ExpiresIn: int64(c.Expiry.Sub(now) / time.Second), CertsURL: certsURL, Claims: c.Raw,
		})
	}
	// Claims are escaped: with --certs-url, "verified" means signed by
	// whatever key that URL serves, and any issuer can write anything.
	var b strings.Builder
	fmt.Fprintf(&b, "Verified: ID token for %s from %s\n", safetext.Escape(strings.Join(c.Audience, ", ")), safetext.Escape(c.Principal()))
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-18s %s\n", k+":", safetext.Escape(v))
		}
	}
	line("issuer", c.Issuer)
	line("subject", c.Subject)
	if c.Email != "" {
		state := "not verified"
		if c.EmailVerified {
			state = "verified"
		}
		line("email", c.Email+" ("+state+")")
	}
	line("audience", strings.Join(c.Audience, ", "))
	line("authorized party", c.AuthorizedParty)
	line("issued", c.IssuedAt.UTC().Format(time.RFC3339)+" ("+jwtinfo.Describe(c.IssuedAt.Sub(now))+")")
	line("expires", c.Expiry.UTC().Format(time.RFC3339)+" ("+jwtinfo.Describe(c.Expiry.Sub(now))+")")
	line("keys", certsURL)
	_, err := io.WriteString(w, b.String())
	return err
}

// keysURL is --certs-url, else what the environment says for Google's
// (or, with --iap, IAP's) keys: $GCPTOKEN_CERTS_URL (not for --iap), the
// emulator's, or Google's.
func (o *verifyOptions) keysURL(app *App) (string, error) {
	if o.certsURL != "" {
		if err := endpoints.CheckURL(o.certsURL); err != nil {
			return "", usagef("verify: --certs-url: %v", err)
		}
		return o.certsURL, nil
	}
	env, err := endpoints.FromEnv(app.Getenv)
	if err != nil {
		return "", usagef("verify: %v", err)
	}
	override, def := envCertsURL, idtoken.GoogleKeysURL
	if o.iap {
		override, def = "", idtoken.IAPKeysURL
	}
	u, err := env.URL(override, def)
	if err != nil {
		return "", usagef("verify: %v", err)
	}
	return u, nil
}

// checkIDTokenShape refuses, with the command to use instead, a token that
// is not a JWT: most often an access token given to verify, which checks ID
// tokens only.
func checkIDTokenShape(token string) error {
	what := "not a JWT (it has not three dot-separated parts), so not an ID token: an opaque access token?"
	switch {
	case strings.HasPrefix(token, "ya29."):
		what = "a Google OAuth access token (ya29.…), not an ID token"
	case strings.HasPrefix(token, "eyJ") || strings.Count(token, ".") == 2:
		return nil // JWT-shaped: the verifier says what is wrong with it
	}
	return credentialErrorf("verify: this is %s: verify checks ID tokens; `gcptoken info TOKEN` asks Google's tokeninfo what an access token is for", what)
}
