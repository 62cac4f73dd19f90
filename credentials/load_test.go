package credentials

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken"
)

func TestFromFileErrors(t *testing.T) {
	t.Parallel()
	with := func(m map[string]any, k string, v any) []byte {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	sa := func() map[string]any { return saFile(t, "") }
	au := func() map[string]any { return auFile("") }
	big := append([]byte(`{"type":"service_account","x":"`), bytes.Repeat([]byte("a"), 1<<20)...)
	big = append(big, `"}`...)

	tests := []struct {
		name string
		data []byte // nil: use path
		path func(t *testing.T) string
		want []string // substrings of the message, besides the file name
	}{
		{name: "missing file", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.json") }, want: []string{"file does not exist"}},
		{name: "directory", path: func(t *testing.T) string { return t.TempDir() }, want: []string{"is a directory"}},
		{name: "empty", data: []byte("  \n"), want: []string{"is empty"}},
		{name: "too large", data: big, want: []string{"larger than 1048576"}},
		{name: "malformed JSON", data: []byte("{\n  \"type\": \"service_account\",\n  \"client_email\" \"x\"\n}"), want: []string{"malformed JSON at line 3, column"}},
		{name: "truncated JSON", data: []byte(`{"type": "service_account"`), want: []string{"malformed JSON"}},
		{name: "not an object", data: []byte(`["service_account"]`), want: []string{"not a JSON object (found array)"}},
		{name: "null", data: []byte(`null`), want: []string{"not a JSON object"}},
		{name: "no type", data: []byte(`{"client_email":"a@b"}`), want: []string{`has no "type" field`}},
		{name: "empty type", data: []byte(`{"type":""}`), want: []string{`empty "type" field`}},
		{name: "type not a string", data: []byte(`{"type":5}`), want: []string{"type: must be a string, not a number"}},
		{name: "unknown type", data: []byte(`{"type":"foo"}`), want: []string{`unknown credential type "foo" (supported: service_account, authorized_user, impersonated_service_account, external_account, external_account_authorized_user)`}},
		{name: "external_account without audience", data: []byte(`{"type":"external_account"}`), want: []string{`audience: missing or empty (required for external_account)`}},
		{name: "gdch", data: []byte(`{"type":"gdch_service_account"}`), want: []string{`"gdch_service_account" is not supported yet`}},
		{name: "impersonated without URL", data: []byte(`{"type":"impersonated_service_account"}`), want: []string{"service_account_impersonation_url: missing or empty (required for impersonated_service_account)"}},
		{name: "client secrets", data: []byte(`{"installed":{"client_id":"x"}}`), want: []string{"OAuth client secrets file"}},
		{name: "sa missing client_email", data: with(sa(), "client_email", nil), want: []string{"client_email: missing or empty (required for service_account)"}},
		{name: "sa missing private_key", data: with(sa(), "private_key", nil), want: []string{"private_key: missing"}},
		{name: "sa client_email number", data: with(sa(), "client_email", 5), want: []string{"client_email: must be a string, not a number"}},
		{name: "sa private_key object", data: with(sa(), "private_key", map[string]any{}), want: []string{"private_key: must be a string, not an object"}},
		{name: "sa private_key not PEM", data: with(sa(), "private_key", "hello"), want: []string{"private_key: not a PEM key"}},
		{name: "sa private_key corrupt", data: with(sa(), "private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), want: []string{"private_key: cannot parse the PRIVATE KEY block: malformed key data"}},
		{name: "sa EC key", data: with(sa(), "private_key", ecPEM(t, false)), want: []string{"private_key: is an EC key; service-account keys must be RSA"}},
		{name: "sa EC key in PKCS#8", data: with(sa(), "private_key", ecPEM(t, true)), want: []string{"private_key: is an EC key"}},
		{name: "sa bad token_uri", data: with(sa(), "token_uri", "not a url"), want: []string{"token_uri:", "not an absolute http(s) URL"}},
		{name: "au missing client_id", data: with(au(), "client_id", nil), want: []string{"client_id: missing or empty (required for authorized_user)"}},
		{name: "au missing client_secret", data: with(au(), "client_secret", ""), want: []string{"client_secret: missing"}},
		{name: "au missing refresh_token", data: with(au(), "refresh_token", nil), want: []string{"refresh_token: missing"}},
		{name: "au refresh_token bool", data: with(au(), "refresh_token", true), want: []string{"refresh_token: must be a string, not a bool"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var path string
			if tt.data != nil {
				path = writeFile(t, "key.json", tt.data)
			} else {
				path = tt.path(t)
			}
			_, err := FromFile(path, isolated(t, nil))
			wantErrContains(t, err, append([]string{"credentials " + strconv.Quote(path) + ": "}, tt.want...)...)
			if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
				t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false; want true", err)
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
}

func TestFromFileNotExistIs(t *testing.T) {
	t.Parallel()
	_, err := FromFile(filepath.Join(t.TempDir(), "x.json"), isolated(t, nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false; want true", err)
	}
}

func TestFromJSONErrorsNameJSON(t *testing.T) {
	t.Parallel()
	_, err := FromJSON([]byte(`{"type":"foo"}`), isolated(t, nil))
	wantErrContains(t, err, `credentials JSON: unknown credential type "foo"`)
	if !errors.Is(err, gcptoken.ErrInvalidCredentials) {
		t.Errorf("errors.Is(%v, ErrInvalidCredentials) = false; want true", err)
	}
}

func TestLoadFields(t *testing.T) {
	t.Parallel()
	sa := saFile(t, "https://example.com/token")
	sa["quota_project_id"] = "quota-from-file"
	au := auFile("")
	au["account"] = "user@example.com"
	au["quota_project_id"] = "quota-from-file"
	pkcs1 := saFile(t, "")
	pkcs1["private_key"] = pkcs1PEM()
	delete(pkcs1, "private_key_id")
	tests := []struct {
		name string
		file map[string]any
		vars map[string]string
		opts Options
		want Credentials
		ep   string
	}{
		{
			name: "service account",
			file: sa,
			want: Credentials{Type: "service_account", Principal: testEmail, ClientID: "123456789012345678901", ProjectID: "proj", QuotaProjectID: "quota-from-file", UniverseDomain: "googleapis.com"},
			ep:   "https://example.com/token",
		},
		{
			name: "service account PKCS#1, env overrides, TokenURL option",
			file: pkcs1,
			vars: map[string]string{"GOOGLE_CLOUD_QUOTA_PROJECT": "quota-env", "GOOGLE_CLOUD_PROJECT": "proj-env"},
			opts: Options{TokenURL: "http://127.0.0.1:1/token"},
			want: Credentials{Type: "service_account", Principal: testEmail, ClientID: "123456789012345678901", ProjectID: "proj-env", QuotaProjectID: "quota-env", UniverseDomain: "googleapis.com"},
			ep:   "http://127.0.0.1:1/token",
		},
		{
			name: "authorized user",
			file: au,
			want: Credentials{Type: "authorized_user", Principal: "user@example.com", ClientID: testClientID, QuotaProjectID: "quota-from-file", UniverseDomain: "googleapis.com"},
			ep:   DefaultTokenURL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "key.json", mustJSON(t, tt.file))
			opts := tt.opts
			opts.Getenv, opts.HomeDir = env(tt.vars), t.TempDir()
			c, err := FromFile(path, &opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct{ name, got, want string }{
				{"Type", c.Type, tt.want.Type},
				{"Principal", c.Principal, tt.want.Principal},
				{"ClientID", c.ClientID, tt.want.ClientID},
				{"ProjectID", c.ProjectID, tt.want.ProjectID},
				{"QuotaProjectID", c.QuotaProjectID, tt.want.QuotaProjectID},
				{"UniverseDomain", c.UniverseDomain, tt.want.UniverseDomain},
				{"Path", c.Path, path},
				{"Source", c.Source, "file " + strconv.Quote(path)},
			} {
				if f.got != f.want {
					t.Errorf("got %s = %q; want %q", f.name, f.got, f.want)
				}
			}
			if got := c.TokenEndpoints(); len(got) != 1 || got[0] != tt.ep {
				t.Errorf("got TokenEndpoints() = %q; want [%q]", got, tt.ep)
			}
			assertNoSecrets(t, "Source", c.Source)
			assertNoSecrets(t, "Identity()", c.Identity())
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"file and JSON", Options{CredentialsFile: "x", CredentialsJSON: []byte("{}")}, "not both"},
		{"bad TokenURL", Options{TokenURL: "/token"}, "Options.TokenURL"},
		{"bad MetadataHost", Options{MetadataHost: "a/b"}, "Options.MetadataHost"},
		{"negative probe timeout", Options{MetadataProbeTimeout: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Getenv = env(nil)
			_, err := Detect(t.Context(), &tt.opts)
			wantErrContains(t, err, tt.want)
		})
	}
}

func TestReadFileTooLargeRegular(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(p, []byte(strings.Repeat(" ", 1<<20+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := readFile(t.Context(), p)
	wantErrContains(t, err, "larger than")
}
