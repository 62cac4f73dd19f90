// Package credsfile decodes Google credential JSON files: the wire structs of
// each credential type, and error messages that point at the offending line or
// field without ever quoting a field's value (values can be secrets).
//
// It knows nothing about where the bytes came from; callers prefix its errors
// with the file name.
package credsfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gcptoken/gcptoken/internal/endpoints"
	"github.com/gcptoken/gcptoken/internal/safetext"
)

// MaxSize is the largest credential file accepted. Real ones are a few KiB;
// anything near this is not a credential file, and refusing it keeps a
// mistaken path (a log, a disk image) from being read into memory.
const MaxSize = 1 << 20

// Credential types found in the "type" field.
const (
	TypeServiceAccount                = "service_account"
	TypeAuthorizedUser                = "authorized_user"
	TypeExternalAccount               = "external_account"
	TypeExternalAccountAuthorizedUser = "external_account_authorized_user"
	TypeImpersonatedServiceAccount    = "impersonated_service_account"
	TypeGDCHServiceAccount            = "gdch_service_account"
)

// ServiceAccount is a service-account key file ("type": "service_account").
type ServiceAccount struct {
	Type           string `json:"type"`
	ProjectID      string `json:"project_id"`
	PrivateKeyID   string `json:"private_key_id"`
	PrivateKey     string `json:"private_key"`
	ClientEmail    string `json:"client_email"`
	ClientID       string `json:"client_id"`
	TokenURI       string `json:"token_uri"`
	QuotaProjectID string `json:"quota_project_id"`
	UniverseDomain string `json:"universe_domain"`
}

// AuthorizedUser is a user credential ("type": "authorized_user"), usually
// written by `gcloud auth application-default login`.
type AuthorizedUser struct {
	Type           string `json:"type"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	RefreshToken   string `json:"refresh_token"`
	Account        string `json:"account"`
	TokenURI       string `json:"token_uri"`
	QuotaProjectID string `json:"quota_project_id"`
	UniverseDomain string `json:"universe_domain"`
}

// ImpersonatedServiceAccount is a credential that impersonates a service
// account through the IAM Credentials API ("type":
// "impersonated_service_account"), as written by `gcloud auth
// application-default login --impersonate-service-account`.
type ImpersonatedServiceAccount struct {
	Type                           string   `json:"type"`
	ServiceAccountImpersonationURL string   `json:"service_account_impersonation_url"`
	Delegates                      []string `json:"delegates"`
	// SourceCredentials is the credential that calls the IAM Credentials
	// API: a whole credential object of any type, parsed with Parse.
	SourceCredentials json.RawMessage `json:"source_credentials"`
	QuotaProjectID    string          `json:"quota_project_id"`
	UniverseDomain    string          `json:"universe_domain"`
}

// ExternalAccount is a workload or workforce identity federation
// credential ("type": "external_account"), as written by `gcloud iam
// workload-identity-pools create-cred-config`. It is also what
// credentials.ExternalAccountConfig writes: in this field order, leaving
// out what is empty (the nested objects keep their keys sorted, as gcptoken
// has always written them).
type ExternalAccount struct {
	Type                           string            `json:"type"`
	Audience                       string            `json:"audience"`
	SubjectTokenType               string            `json:"subject_token_type"`
	TokenURL                       string            `json:"token_url,omitempty"`
	CredentialSource               *CredentialSource `json:"credential_source,omitempty"`
	TokenInfoURL                   string            `json:"token_info_url,omitempty"`
	ServiceAccountImpersonationURL string            `json:"service_account_impersonation_url,omitempty"`
	ServiceAccountImpersonation    struct {
		TokenLifetimeSeconds int `json:"token_lifetime_seconds"`
	} `json:"service_account_impersonation,omitzero"`
	ClientID                 string `json:"client_id,omitempty"`
	ClientSecret             string `json:"client_secret,omitempty"`
	QuotaProjectID           string `json:"quota_project_id,omitempty"`
	WorkforcePoolUserProject string `json:"workforce_pool_user_project,omitempty"`
	UniverseDomain           string `json:"universe_domain,omitempty"`
}

// CredentialSource says where an external account's subject token comes
// from: a file, a URL, an executable, AWS, or a certificate. Its fields are
// in the order of their keys.
type CredentialSource struct {
	Certificate                 json.RawMessage   `json:"certificate,omitempty"`
	EnvironmentID               string            `json:"environment_id,omitempty"`
	Executable                  *ExecutableSource `json:"executable,omitempty"`
	File                        string            `json:"file,omitempty"`
	Format                      *SubjectFormat    `json:"format,omitempty"`
	Headers                     map[string]string `json:"headers,omitempty"`
	IMDSv2SessionTokenURL       string            `json:"imdsv2_session_token_url,omitempty"`
	RegionURL                   string            `json:"region_url,omitempty"`
	RegionalCredVerificationURL string            `json:"regional_cred_verification_url,omitempty"`
	URL                         string            `json:"url,omitempty"`
}

// SubjectFormat is how a file or URL subject token is encoded.
type SubjectFormat struct {
	SubjectTokenFieldName string `json:"subject_token_field_name,omitempty"`
	Type                  string `json:"type"` // "text" (default) or "json"
}

// ExecutableSource is an executable-sourced subject token.
type ExecutableSource struct {
	Command                  string `json:"command"`
	InteractiveTimeoutMillis int    `json:"interactive_timeout_millis,omitempty"`
	OutputFile               string `json:"output_file,omitempty"`
	TimeoutMillis            int    `json:"timeout_millis,omitempty"`
}

// ExternalAccountAuthorizedUser is a workforce user's credential ("type":
// "external_account_authorized_user"), written by `gcloud auth
// application-default login` after a workforce sign-in.
type ExternalAccountAuthorizedUser struct {
	Type           string `json:"type"`
	Audience       string `json:"audience"`
	RefreshToken   string `json:"refresh_token"`
	TokenURL       string `json:"token_url"`
	TokenInfoURL   string `json:"token_info_url"`
	RevokeURL      string `json:"revoke_url"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	QuotaProjectID string `json:"quota_project_id"`
	UniverseDomain string `json:"universe_domain"`
}

// File is a parsed credential file whose type is known but whose fields have
// not been decoded yet.
type File struct {
	// Type is the "type" field; empty when HasType is false.
	Type string
	// HasType reports whether the file has a "type" field at all.
	HasType bool
	// ClientSecrets reports whether the file looks like an OAuth client
	// secrets file ({"installed": …} or {"web": …}), a common mix-up.
	ClientSecrets bool

	data []byte
}

// FieldError is a problem with one field of a credential file.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Parse checks that data is one JSON object and reads its "type".
func Parse(data []byte) (*File, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM, as some editors write
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("is empty")
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("is larger than %d bytes; not a credentials file", MaxSize)
	}
	if err := recognize(data); err != nil {
		return nil, err
	}
	// encoding/json would report the first odd byte ("invalid character
	// '\x00'"), which does not tell the user what is wrong with the file.
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) ||
		len(data) > 1 && (data[0] == 0) != (data[1] == 0):
		return nil, errors.New("is UTF-16 text; save it as UTF-8 JSON")
	case bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data):
		return nil, errors.New("is not UTF-8 text (binary data?); a credentials file is UTF-8 JSON")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, jsonError(data, err)
	}
	if top == nil { // the literal null
		return nil, errors.New("is not a JSON object (found null)")
	}
	if err := checkStrings(data); err != nil {
		return nil, err
	}
	f := &File{data: data}
	if raw, ok := top["type"]; ok {
		if err := json.Unmarshal(raw, &f.Type); err != nil {
			return nil, jsonError(raw, err, "type")
		}
		f.HasType = true
	}
	if raw, ok := top["universe_domain"]; ok {
		// Endpoints are derived from it ("https://sts." + universe): a
		// value that is not a DNS name would make them point elsewhere.
		var u string
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, jsonError(raw, err, "universe_domain")
		}
		if u != "" {
			if err := endpoints.CheckUniverseDomain(u); err != nil {
				return nil, &FieldError{Field: "universe_domain", Err: err}
			}
		}
	}
	_, installed := top["installed"]
	_, web := top["web"]
	f.ClientSecrets = installed || web
	return f, nil
}

// checkStrings refuses a file any of whose keys or string values holds a
// character that would act on a terminal (C0 and C1 controls, bidi and
// other format characters; see safetext) or U+FFFD, which is what
// encoding/json makes of a lone UTF-16 surrogate such as "\ud800". No
// field of a real credential holds one, and values end up in error
// messages, `gcptoken explain`, HTTP requests and cache keys. Only
// private_key, a PEM block, may hold line breaks.
func checkStrings(data []byte) error {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return jsonError(data, err)
	}
	return walkStrings("", doc)
}

func walkStrings(path string, v any) error {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) { // the first bad field, always the same one
			p := k
			if path != "" {
				p = path + "." + k
			}
			if err := checkText(k, false); err != nil {
				return &FieldError{Field: safetext.Escape(p), Err: fmt.Errorf("the field's name %w", err)}
			}
			if err := walkStrings(p, v[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := walkStrings(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case string:
		pem := path == "private_key" || strings.HasSuffix(path, ".private_key")
		if err := checkText(v, pem); err != nil {
			return &FieldError{Field: path, Err: err}
		}
	}
	return nil
}

// checkText describes the first character of s that no credential field
// may hold, without quoting s (it may be a secret). With lineBreaks, \n,
// \r and \t are allowed.
func checkText(s string, lineBreaks bool) error {
	if lineBreaks {
		s = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == '\t' {
				return ' '
			}
			return r
		}, s)
	}
	if safetext.Escape(s) == s && !strings.ContainsRune(s, utf8.RuneError) {
		return nil
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			return fmt.Errorf("holds U+FFFD at byte %d (what a lone UTF-16 surrogate such as \\ud800 decodes to); fix the file", i)
		case safetext.Escape(string(r)) != string(r):
			return fmt.Errorf("holds the control character U+%04X at byte %d; no credential field does, fix the file", r, i)
		}
	}
	return nil
}

// Decode decodes the whole file into v, one of this package's structs.
func (f *File) Decode(v any) error {
	if err := json.Unmarshal(f.data, v); err != nil {
		return jsonError(f.data, err)
	}
	return nil
}

// jsonError rewrites encoding/json's errors so that they say where the
// problem is (line and column, or field name) and never quote a value.
func jsonError(data []byte, err error, field ...string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(data, se.Offset)
		return fmt.Errorf("malformed JSON at line %d, column %d: %v", line, col, se)
	case errors.As(err, &te):
		name := te.Field
		if len(field) > 0 {
			name = field[0]
		}
		if name == "" {
			return fmt.Errorf("is not a JSON object (found %s)", te.Value)
		}
		return &FieldError{Field: name, Err: fmt.Errorf("must be %s, not %s", article(kindOf(te)), article(te.Value))}
	}
	return fmt.Errorf("malformed JSON: %v", err)
}

func article(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func kindOf(te *json.UnmarshalTypeError) string {
	if te.Type == nil {
		return "value of another type"
	}
	switch te.Type.Kind().String() {
	case "string":
		return "string"
	case "map", "struct":
		return "JSON object"
	case "slice", "array":
		if te.Type.Elem().Kind().String() == "string" {
			return "list of strings"
		}
		return "JSON array"
	}
	return te.Type.String()
}

// lineCol turns a byte offset (as json.SyntaxError reports, pointing just
// past the bad byte) into a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col = 1, 0
	for _, b := range data[:offset] {
		if b == '\n' {
			line++
			col = 0
			continue
		}
		col++
	}
	if col == 0 {
		col = 1
	}
	return line, col
}
