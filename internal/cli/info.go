package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/fileutil"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

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
	cmd.Flags().StringVar(&o.tokenInfoURL, "tokeninfo-url", "", "tokeninfo endpoint `URL` for opaque tokens (default $"+envTokenInfoURL+", else $"+envEmulatorHost+"'s, else Google's)")
	bindTimeout(cmd, app, 0)
	return cmd
}

func infoRun(cmd *cobra.Command, app *App, o *infoOptions, args []string) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	token, err := readTokenArg(cmd.Context(), app, "info", args)
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
	if o.tokenInfoURL != "" && endpoints.CheckURL(o.tokenInfoURL) != nil {
		return usagef("--tokeninfo-url %q is not a URL", o.tokenInfoURL)
	}
	// Without --tokeninfo-url the library picks $GCPTOKEN_TOKENINFO_URL,
	// the emulator's, or Google's.
	app.progress.phase("tokeninfo's answer", nil, 1)
	info, err := credentials.TokenInfo(cmd.Context(), token, &credentials.TokenInfoOptions{
		Endpoint: o.tokenInfoURL, HTTPClient: app.HTTPClient, Getenv: app.Getenv,
	})
	if err != nil {
		return err
	}
	return writeTokenInfo(app.Out, o.format, info)
}

// readTokenArg reads one token from the argument or standard input ("-" or
// nothing), accepting a pasted "Authorization: Bearer …" line. cmd names
// the command in errors. Reading standard input ends with ctx (SIGINT,
// SIGTERM): a pipe whose writer never writes must not hang the command.
func readTokenArg(ctx context.Context, app *App, cmd string, args []string) (string, error) {
	var raw string
	if len(args) == 1 && args[0] != "-" {
		raw = args[0]
	} else {
		b, err := fileutil.ReadAll(ctx, app.In, maxTokenInput)
		switch {
		case errors.Is(err, fileutil.ErrTooLarge):
			return "", usagef("%s: standard input is larger than %d KiB; pass one token", cmd, maxTokenInput>>10)
		case err != nil:
			// Nothing came (interrupted, or a pipe that never delivered):
			// the command line's input is what went wrong.
			return "", usagef("%s: read token from standard input: %v", cmd, err)
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

func writeJWTInfo(w io.Writer, format string, d *jwtinfo.Decoded, now time.Time) error {
	if format == "json" {
		doc := map[string]any{"type": "jwt", "header": d.Header, "claims": d.Claims, "verified": false, "signed": !unsigned(d)}
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

// describeJWT names the kind of Google token a JWT claims to be. It never
// says "signed by Google": nothing here checked the signature, and an
// unsigned token says so first.
func describeJWT(d *jwtinfo.Decoded) string {
	if unsigned(d) {
		return `UNSIGNED token (alg "none" or no signature): anyone can write one; no service should accept it`
	}
	iss, _ := d.Claims["iss"].(string)
	switch {
	case iss == "https://accounts.google.com" || iss == "accounts.google.com":
		aud := safetext.OneLine(strings.Join(d.Audience(), ", "))
		if _, ok := d.Claims["google"]; ok {
			return "ID token in the metadata server's shape, issuer Google, audience " + aud + " (`gcptoken verify` checks its signature)"
		}
		return "ID token naming Google as issuer, for audience " + aud + " (`gcptoken verify` checks its signature)"
	case d.Claims["iss"] == d.Claims["sub"] && strings.HasSuffix(iss, ".gserviceaccount.com"):
		return "self-signed service-account JWT"
	}
	return ""
}

// unsigned reports whether d carries no signature at all.
func unsigned(d *jwtinfo.Decoded) bool {
	alg, _ := d.Header["alg"].(string)
	return strings.EqualFold(alg, "none") || len(d.Signature) == 0
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

// writeFields prints a JSON object's fields sorted, one per line. Names and
// values come from the token or from tokeninfo, so they are escaped: a
// claim must not move the cursor, retitle the terminal or add lines.
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
		fmt.Fprintf(b, "  %-16s %s\n", safetext.Escape(k)+":", safetext.Escape(s))
	}
}

// writeJSON writes v as indented JSON. The characters that would act on a
// terminal and that encoding/json leaves as they are (DEL, C1 controls,
// bidi overrides and other format characters) are written as \u escapes:
// the document means the same, and a hostile claim or tokeninfo answer
// cannot reach the terminal through it.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSONForTerminal(buf.Bytes()))
	return err
}

// escapeJSONForTerminal rewrites what safetext would escape as JSON \u
// escapes. Such characters are never ASCII structure, so they can only be
// inside strings, where \u escapes are valid.
func escapeJSONForTerminal(doc []byte) []byte {
	out := make([]byte, 0, len(doc))
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		switch {
		case r == 0x7f || r >= utf8.RuneSelf && safetext.Escape(string(r)) != string(r):
			for _, u := range utf16.AppendRune(nil, r) {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		default:
			out = append(out, doc[i:i+size]...)
		}
		i += size
	}
	return out
}
