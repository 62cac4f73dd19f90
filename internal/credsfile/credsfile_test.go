package credsfile

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data, want string
		field            string
	}{
		{name: "syntax on line 2", data: "{\n  \"type\" 1}", want: "malformed JSON at line 2, column 10"},
		{name: "syntax on line 1", data: "{x}", want: "malformed JSON at line 1, column 2"},
		{name: "type number", data: `{"type": 1}`, want: "type: must be a string, not a number", field: "type"},
		{name: "array", data: `[]`, want: "is not a JSON object (found array)"},
		{name: "string", data: `"x"`, want: "is not a JSON object (found string)"},
		{name: "BOM then empty", data: "\xef\xbb\xbf ", want: "is empty"},
		{name: "escape in client_email", data: `{"type":"service_account","client_email":"a\u001b[2Jb"}`,
			want: "client_email: holds the control character U+001B at byte 1", field: "client_email"},
		{name: "newline in token_uri", data: `{"type":"service_account","token_uri":"https://x/\r\nHost: evil"}`,
			want: "token_uri: holds the control character U+000D at byte 10", field: "token_uri"},
		{name: "lone surrogate in private_key_id", data: `{"type":"service_account","private_key_id":"k\ud800"}`,
			want: "private_key_id: holds U+FFFD at byte 1", field: "private_key_id"},
		{name: "bidi override in audience", data: `{"type":"external_account","audience":"\u202egoogle"}`,
			want: "audience: holds the control character U+202E at byte 0", field: "audience"},
		{name: "nested field", data: `{"type":"external_account","credential_source":{"headers":{"X":"a\u0007"}}}`,
			want: "credential_source.headers.X: holds the control character U+0007", field: "credential_source.headers.X"},
		{name: "list element", data: `{"type":"impersonated_service_account","delegates":["a","b\u0085"]}`,
			want: "delegates[1]: holds the control character U+0085", field: "delegates[1]"},
		{name: "field name", data: `{"type":"service_account","a\u001bb":"x"}`,
			want: "the field's name holds the control character U+001B", field: `a\x1bb`},
		{name: "tab outside private_key", data: `{"type":"authorized_user","refresh_token":"1//x\t"}`,
			want: "refresh_token: holds the control character U+0009", field: "refresh_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v; want it to contain %q", err, tt.want)
			}
			var fe *FieldError
			if got := errors.As(err, &fe); got != (tt.field != "") || (got && fe.Field != tt.field) {
				t.Errorf("got FieldError %v; want field %q", fe, tt.field)
			}
		})
	}
}

func TestParseAcceptsPEMLineBreaks(t *testing.T) {
	t.Parallel()
	data := `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\r\nMIIE\n-----END PRIVATE KEY-----\n",` +
		`"source_credentials":{"private_key":"a\nb"},"client_email":"r\u00e9sum\u00e9@example.com"}`
	if _, err := Parse([]byte(data)); err != nil {
		t.Errorf("Parse: %v; want line breaks in private_key and non-ASCII letters accepted", err)
	}
}

func TestDecodeFieldError(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(`{"type":"service_account","client_email":5,"private_key":"secret"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sa ServiceAccount
	err = f.Decode(&sa)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "client_email" {
		t.Fatalf("got %v; want a FieldError for client_email", err)
	}
	if got, want := err.Error(), "client_email: must be a string, not a number"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}

func TestDecodeImpersonated(t *testing.T) {
	t.Parallel()
	f, err := Parse([]byte(`{"type":"impersonated_service_account",
		"service_account_impersonation_url":"https://iam.example/v1/projects/-/serviceAccounts/t@p:generateAccessToken",
		"delegates":["a@p","projects/-/serviceAccounts/b@p"],
		"source_credentials":{"type":"authorized_user","refresh_token":"secret"},
		"quota_project_id":"q","universe_domain":"u.example"}`))
	if err != nil {
		t.Fatal(err)
	}
	var im ImpersonatedServiceAccount
	if err := f.Decode(&im); err != nil {
		t.Fatal(err)
	}
	if im.ServiceAccountImpersonationURL == "" || len(im.Delegates) != 2 || im.QuotaProjectID != "q" || im.UniverseDomain != "u.example" {
		t.Errorf("got %+v; want every field decoded", im)
	}
	src, err := Parse(im.SourceCredentials)
	if err != nil || src.Type != TypeAuthorizedUser {
		t.Errorf("got source %+v, %v; want an authorized_user", src, err)
	}

	tests := []struct{ data, want string }{
		{`{"delegates":"a@p"}`, "delegates: must be a list of strings, not a string"},
		{`{"delegates":{}}`, "delegates: must be a list of strings, not an object"},
	}
	for _, tt := range tests {
		f, err := Parse([]byte(tt.data))
		if err != nil {
			t.Fatal(err)
		}
		err = f.Decode(&im)
		var fe *FieldError
		if !errors.As(err, &fe) || err.Error() != tt.want {
			t.Errorf("Decode(%s) = %v; want FieldError %q", tt.data, err, tt.want)
		}
	}
}
