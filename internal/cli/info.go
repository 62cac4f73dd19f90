package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// defaultTokenInfoURL is Google's tokeninfo endpoint.
const defaultTokenInfoURL = "https://oauth2.googleapis.com/tokeninfo"

// maxTokenInput bounds what info reads: no token comes near it, and a
// mistaken `info < bigfile` should fail fast.
const maxTokenInput = 64 << 10

type infoOptions struct {
	format       string
	tokenInfoURL string
}

func newInfoCmd(app *App) *cobra.Command {
	o := &infoOptions{}
	cmd := &cobra.Command{
		Use:   "info [TOKEN|-]",
		Short: "Decode and explain a token (JWTs offline, opaque access tokens via tokeninfo)",
		Long: `Explain a token: who it is for, who it names, and when it expires.

A JWT (ID token, self-signed JWT) is decoded offline: header, claims and the
expiry in words. Decoding is not verification. An opaque access token is sent
to Google's tokeninfo endpoint (in a POST body, never in the URL).
With no argument or "-", the token is read from standard input.`,
		Example: `  gcptoken print-identity-token --audience https://x.run.app | gcptoken info
  gcptoken info "$(gcptoken print-access-token)"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return infoRun(cmd, app, o, args)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "output `FORMAT`: text or json")
	cmd.Flags().StringVar(&o.tokenInfoURL, "tokeninfo-url", "", "tokeninfo endpoint `URL` for opaque tokens (default $"+envTokenInfoURL+", else Google's)")
	return cmd
}

func infoRun(cmd *cobra.Command, app *App, o *infoOptions, args []string) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	token, err := readTokenArg(app, "info", args)
	if err != nil {
		return err
	}
	// JWTs start with a base64url JSON object ("eyJ"); Google's opaque
	// access tokens ("ya29.…") also contain dots, so dots alone prove nothing.
	if strings.HasPrefix(token, "eyJ") || jwtinfo.LooksLikeJWT(token) {
		d, err := jwtinfo.Decode(token)
		if err != nil {
			return credentialErrorf("info: not a valid JWT: %v", err)
		}
		return writeJWTInfo(app.Out, o.format, d, app.Now())
	}
	endpoint := o.tokenInfoURL
	if endpoint == "" {
		endpoint = app.Getenv(envTokenInfoURL)
	}
	if endpoint == "" {
		endpoint = defaultTokenInfoURL
	}
	info, err := lookupTokenInfo(cmd, app, endpoint, token)
	if err != nil {
		return err
	}
	return writeTokenInfo(app.Out, o.format, info)
}

// readTokenArg reads one token from the argument or standard input ("-" or
// nothing), accepting a pasted "Authorization: Bearer …" line. cmd names
// the command in errors.
func readTokenArg(app *App, cmd string, args []string) (string, error) {
	var raw string
	if len(args) == 1 && args[0] != "-" {
		raw = args[0]
	} else {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(app.In), maxTokenInput+1))
		if err != nil {
			return "", fmt.Errorf("%s: read token from standard input: %w", cmd, err)
		}
		if len(b) > maxTokenInput {
			return "", usagef("%s: standard input is larger than %d KiB; pass one token", cmd, maxTokenInput>>10)
		}
		raw = string(b)
	}
	token := strings.TrimPrefix(strings.TrimSpace(raw), "Authorization: ")
	if f := strings.Fields(token); len(f) == 2 && strings.EqualFold(f[0], "Bearer") {
		token = f[1]
	}
	if token == "" {
		return "", usagef("%s: no token given: pass it as an argument or on standard input", cmd)
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return "", usagef("%s: the input holds more than one word; pass one token", cmd)
	}
	// Bearer tokens are printable ASCII (RFC 6750 b64token); anything else
	// is a mistaken file, and must not be sent to tokeninfo.
	if i := strings.IndexFunc(token, func(r rune) bool { return r < 0x21 || r > 0x7e }); i >= 0 {
		return "", usagef("%s: the input is not a token: byte %d is not printable ASCII", cmd, i)
	}
	return token, nil
}

// lookupTokenInfo asks tokeninfo about an opaque token. The token goes in a
// form body so it never lands in server or proxy access logs.
func lookupTokenInfo(cmd *cobra.Command, app *App, endpoint, token string) (map[string]any, error) {
	if _, err := url.ParseRequestURI(endpoint); err != nil {
		return nil, usagef("--tokeninfo-url %q is not a URL", endpoint)
	}
	form := url.Values{"access_token": {token}}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("tokeninfo: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := app.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, gcptoken.NewTransportError("ask tokeninfo", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, gcptoken.NewTransportError("ask tokeninfo", endpoint, err)
	}
	if resp.StatusCode == http.StatusBadRequest {
		// Google answers 400 "Invalid Value" for unknown, expired or
		// revoked tokens: the token is bad, the service is fine.
		return nil, credentialErrorf("tokeninfo at %s does not accept this token (expired, revoked, or not an access token)", endpoint)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, gcptoken.NewResponseError("ask tokeninfo", endpoint, resp.StatusCode, body)
	}
	var info map[string]any
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("tokeninfo at %s: response is not JSON: %w", endpoint, err)
	}
	return info, nil
}

func writeJWTInfo(w io.Writer, format string, d *jwtinfo.Decoded, now time.Time) error {
	if format == "json" {
		doc := map[string]any{"type": "jwt", "header": d.Header, "claims": d.Claims, "verified": false}
		if exp, ok := d.Expiry(); ok {
			doc["expired"] = !now.Before(exp)
		}
		return writeJSON(w, doc)
	}
	var b strings.Builder
	fmt.Fprintln(&b, "JWT (decoded offline; the signature was not verified)")
	fmt.Fprintln(&b, "Header:")
	writeFields(&b, d.Header)
	fmt.Fprintln(&b, "Claims:")
	writeFields(&b, d.Claims)
	if iat, ok := d.IssuedAt(); ok {
		fmt.Fprintf(&b, "Issued:  %s (%s)\n", iat.UTC().Format(time.RFC3339), jwtinfo.Describe(iat.Sub(now)))
	}
	if exp, ok := d.Expiry(); ok {
		state := "valid"
		if !now.Before(exp) {
			state = "EXPIRED"
		}
		fmt.Fprintf(&b, "Expires: %s (%s, %s)\n", exp.UTC().Format(time.RFC3339), jwtinfo.Describe(exp.Sub(now)), state)
	} else {
		fmt.Fprintln(&b, "Expires: never (no exp claim)")
	}
	if kind := describeJWT(d); kind != "" {
		fmt.Fprintf(&b, "Kind:    %s\n", kind)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeJWT names the kind of Google token a JWT looks like.
func describeJWT(d *jwtinfo.Decoded) string {
	iss, _ := d.Claims["iss"].(string)
	switch {
	case iss == "https://accounts.google.com" || iss == "accounts.google.com":
		if _, ok := d.Claims["google"]; ok {
			return "Google ID token from the metadata server"
		}
		return "Google-signed ID token for audience " + strings.Join(d.Audience(), ", ")
	case d.Claims["iss"] == d.Claims["sub"] && strings.HasSuffix(iss, ".gserviceaccount.com"):
		return "self-signed service-account JWT"
	}
	return ""
}

func writeTokenInfo(w io.Writer, format string, info map[string]any) error {
	if format == "json" {
		return writeJSON(w, map[string]any{"type": "access_token", "tokeninfo": info})
	}
	var b strings.Builder
	fmt.Fprintln(&b, "Opaque access token (tokeninfo says):")
	writeFields(&b, info)
	if secs, ok := info["expires_in"]; ok {
		var n int64
		fmt.Sscan(fmt.Sprint(secs), &n)
		fmt.Fprintf(&b, "Expires: %s\n", jwtinfo.Describe(time.Duration(n)*time.Second))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFields prints a JSON object's fields sorted, one per line.
func writeFields(b *strings.Builder, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		var s string
		switch v := v.(type) {
		case string:
			s = v
		default:
			j, _ := json.Marshal(v)
			s = string(j)
		}
		fmt.Fprintf(b, "  %-16s %s\n", k+":", s)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
