package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// printOptions are the flags shared by print-access-token and
// print-identity-token.
type printOptions struct {
	creds        credFlags
	format       string
	shell        string
	scopes       []string
	audience     string
	tokenFormat  string
	licenses     bool
	includeEmail bool
	selfSigned   bool
}

const formatHelp = "output `FORMAT`: text (the token), json, header (Authorization: Bearer …) or env (shell assignments, see --shell)"

func newPrintAccessTokenCmd(app *App) *cobra.Command {
	o := &printOptions{}
	cmd := &cobra.Command{
		Use:   "print-access-token",
		Short: "Print an OAuth 2.0 access token for Google APIs",
		Long: `Print an OAuth 2.0 access token from the selected credentials.

Like 'gcloud auth print-access-token', but fast: tokens are cached on disk
(keyed by identity, scopes and endpoints; 0600 files) and reused until five
minutes before they expire.`,
		Example: `  gcptoken print-access-token
  gcptoken print-access-token --scopes cloud-platform,userinfo.email --format json
  curl -H "$(gcptoken print-access-token --format header)" https://storage.googleapis.com/storage/v1/b?project=my-project`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printRun(cmd, app, o, gcptoken.AccessToken)
		},
	}
	o.creds.bind(cmd.Flags())
	cmd.Flags().StringVar(&o.format, "format", "text", formatHelp)
	cmd.Flags().StringVar(&o.shell, "shell", "", shellHelp)
	cmd.Flags().StringSliceVar(&o.scopes, "scopes", nil, "OAuth `SCOPES`, comma-separated; short names get Google's prefix (default cloud-platform; user credentials: the scopes they were granted)")
	cmd.Flags().BoolVar(&o.selfSigned, "self-signed", false, "sign a JWT access token locally with the service-account key (no token endpoint); needs --audience or --scopes")
	cmd.Flags().StringVar(&o.audience, "audience", "", "with --self-signed: the API's `AUDIENCE`, e.g. https://pubsub.googleapis.com/")
	bindTimeout(cmd, app, 0)
	return cmd
}

func newPrintIdentityTokenCmd(app *App) *cobra.Command {
	o := &printOptions{}
	cmd := &cobra.Command{
		Use:   "print-identity-token --audience AUDIENCE",
		Short: "Print an OIDC ID token for a target audience (Cloud Run, Cloud Functions, IAP)",
		Long: `Print a Google-signed OIDC ID token whose "aud" claim is AUDIENCE, such as
the URL of a private Cloud Run service or Cloud Function.

Service accounts and the metadata server mint a token for any audience.
User credentials cannot: their ID token's audience is the OAuth client that
signed the user in; gcptoken prints it and warns when it differs.`,
		Example: `  gcptoken print-identity-token --audience https://my-service-abc123-uc.a.run.app
  curl -H "Authorization: Bearer $(gcptoken print-identity-token --audience "$URL")" "$URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.audience == "" {
				return usagef("print-identity-token: --audience is required: the URL of the service the token is for")
			}
			flag := "--audience"
			if cmd.Flags().Changed("audiences") {
				flag = "--audiences"
			}
			if err := checkOneAudience("print-identity-token: "+flag, o.audience); err != nil {
				return err
			}
			return printRun(cmd, app, o, gcptoken.IDToken)
		},
	}
	o.creds.bind(cmd.Flags())
	cmd.Flags().StringVar(&o.format, "format", "text", formatHelp)
	cmd.Flags().StringVar(&o.shell, "shell", "", shellHelp)
	cmd.Flags().StringVar(&o.audience, "audience", "", "the token's `AUDIENCE` (required), e.g. the service URL")
	cmd.Flags().StringVar(&o.audience, "audiences", "", "alias of --audience, as in gcloud")
	cmd.Flags().StringVar(&o.tokenFormat, "token-format", "", "metadata server only: `FORMAT` standard, or full (adds the google.compute_engine claims)")
	cmd.Flags().BoolVar(&o.licenses, "include-license", false, "metadata server only, with --token-format full: include the instance's license codes")
	cmd.Flags().BoolVar(&o.includeEmail, "include-email", false, "impersonation: include the email and email_verified claims")
	bindTimeout(cmd, app, 0)
	return cmd
}

func printRun(cmd *cobra.Command, app *App, o *printOptions, kind gcptoken.Kind) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	shell, err := checkShell(app, o.shell, o.format)
	if err != nil {
		return err
	}
	req := credentials.TokenRequest{Kind: kind, Audience: o.audience, SelfSigned: o.selfSigned,
		IDTokenOptions: credentials.IDTokenOptions{TokenFormat: o.tokenFormat, Licenses: o.licenses, IncludeEmail: o.includeEmail}}
	if kind == gcptoken.AccessToken && o.audience != "" && !o.selfSigned {
		return usagef("print-access-token: --audience is only for --self-signed (ID tokens: print-identity-token --audience)")
	}
	if err := checkOneAudience("--audience", o.audience); kind == gcptoken.AccessToken && err != nil {
		return err
	}
	if o.selfSigned && (o.audience == "") == (len(o.scopes) == 0) {
		return usagef("--self-signed needs exactly one of --audience or --scopes")
	}
	switch o.tokenFormat {
	case "", "standard", "full":
	default:
		return usagef("--token-format %q: want standard or full", o.tokenFormat)
	}
	if o.licenses && o.tokenFormat != "full" {
		return usagef("--include-license needs --token-format full")
	}
	if kind == gcptoken.AccessToken {
		req.Scopes = parseScopes(o.scopes)
	}
	tok, creds, err := o.creds.token(cmd.Context(), app, req)
	if err != nil {
		return err
	}
	return writeToken(app.Out, o.format, shell, tok, creds, creds.Resolve(&req), app.Now())
}

// checkOneAudience refuses a list where one audience is wanted: an ID
// token has one audience, and `--audiences=a,b` would otherwise mint a
// token for the audience "a,b" that no service accepts. gcloud's
// --audiences takes one too.
func checkOneAudience(flag, aud string) error {
	if strings.Contains(aud, ",") {
		return usagef("%s %q: one audience per token (an ID token is for one service); run once per audience", flag, aud)
	}
	return nil
}

func checkFormat(f string) error {
	switch f {
	case "text", "json", "header", "env":
		return nil
	}
	return usagef("--format %q: want text, json, header or env", f)
}

// tokenJSON is the --format json document. Field names follow the OAuth
// token response where one exists.
type tokenJSON struct {
	Token          string `json:"token"`
	TokenType      string `json:"token_type"`
	Kind           string `json:"kind"`
	Expiry         string `json:"expiry,omitempty"`
	ExpiresIn      int64  `json:"expires_in,omitempty"`
	Scope          string `json:"scope,omitempty"`
	Audience       string `json:"audience,omitempty"`
	CredentialType string `json:"credential_type"`
	Principal      string `json:"principal,omitempty"`
}

// writeToken prints tok, got for req, in format; shell is --format env's
// dialect.
func writeToken(w io.Writer, format, shell string, tok *gcptoken.Token, creds *credentials.Credentials, req credentials.TokenRequest, now time.Time) error {
	if err := checkPrintable(tok); err != nil {
		return err
	}
	var err error
	switch format {
	case "text":
		_, err = fmt.Fprintln(w, tok.Value)
	case "header":
		_, err = fmt.Fprintf(w, "Authorization: %s %s\n", tok.TokenType(), tok.Value)
	case "env":
		if tok.Kind == gcptoken.IDToken {
			err = writeEnv(w, shell, [][2]string{{"GOOGLE_ID_TOKEN", tok.Value}})
			break
		}
		// GOOGLE_OAUTH_ACCESS_TOKEN is read by Terraform's Google provider,
		// CLOUDSDK_AUTH_ACCESS_TOKEN by gcloud.
		err = writeEnv(w, shell, [][2]string{{"GOOGLE_OAUTH_ACCESS_TOKEN", tok.Value}, {"CLOUDSDK_AUTH_ACCESS_TOKEN", tok.Value}})
	case "json":
		doc := tokenJSON{
			Token:          tok.Value,
			TokenType:      tok.TokenType(),
			Kind:           string(tok.Kind),
			Scope:          tok.Metadata[gcptoken.MetaScope],
			Audience:       tok.Metadata[gcptoken.MetaAudience],
			CredentialType: creds.Type,
			Principal:      creds.Principal,
		}
		// Token endpoints that grant what was asked do not repeat it (a
		// service account's grant has no scope field): say what was
		// asked, which is what the token carries.
		switch {
		case tok.Kind == gcptoken.AccessToken && doc.Scope == "":
			doc.Scope = strings.Join(req.Scopes, " ")
		case tok.Kind == gcptoken.IDToken && doc.Audience == "":
			doc.Audience = req.Audience
		}
		if !tok.Expiry.IsZero() {
			doc.Expiry = tok.Expiry.UTC().Format(time.RFC3339)
			doc.ExpiresIn = int64(tok.Expiry.Sub(now).Seconds())
		}
		err = writeJSON(w, doc)
	}
	if err != nil {
		return fmt.Errorf("write token: %w", err)
	}
	return nil
}

// checkPrintable refuses a token whose value is not a bearer token or whose
// type is not one word. Every source checks its tokens already; this is the
// last gate before output that scripts eval, paste into headers or read line
// by line, so that `--format header` is always exactly one line.
func checkPrintable(tok *gcptoken.Token) error {
	what := "access token"
	if tok.Kind == gcptoken.IDToken {
		what = "ID token"
	}
	if err := gcptoken.CheckTokenValue(tok.Value); err != nil {
		return fmt.Errorf("refusing to print the %s: %w", what, err)
	}
	if err := gcptoken.CheckTokenType(tok.Type); err != nil {
		return fmt.Errorf("refusing to print the %s: %w", what, err)
	}
	return nil
}

// quoteForEval quotes s as one word for `eval` in bash, zsh, dash and fish.
// Runs of ordinary characters go in single quotes, where none of these
// shells expands anything; a single quote or a backslash is written
// outside them, escaped (\' and \\). fish is why backslashes are not left
// inside the quotes: it reads \\ and \' there as escapes, where POSIX
// shells read them literally. Tokens never hold either character (they are
// checked before printing); the quoting is a second line of defence.
func quoteForEval(s string) string {
	if s == "" {
		return "''"
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\'' || c == '\\' {
			if quoted {
				b.WriteByte('\'')
				quoted = false
			}
			b.WriteByte('\\')
			b.WriteByte(c)
			continue
		}
		if !quoted {
			b.WriteByte('\'')
			quoted = true
		}
		b.WriteByte(c)
	}
	if quoted {
		b.WriteByte('\'')
	}
	return b.String()
}
