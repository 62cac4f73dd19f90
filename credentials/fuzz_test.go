package credentials

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzFromJSON feeds arbitrary bytes to FromJSON, seeded with the bad-input
// corpus and a few good files. It must never panic; it returns either
// credentials or one error of one line; and the error never quotes a
// secret field's value (private_key, client_secret, refresh_token).
//
//	go test ./credentials -run '^$' -fuzz FuzzFromJSON -fuzztime 30s
func FuzzFromJSON(f *testing.F) {
	for _, dir := range []string{"../testdata/badinput/creds"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			if len(data) <= 64<<10 { // the fuzzer mutates small inputs best
				f.Add(data)
			}
		}
	}
	for _, s := range []string{
		`{"type":"authorized_user","client_id":"c","client_secret":"fuzz-secret-value","refresh_token":"1//fuzz-refresh-value"}`,
		`{"type":"impersonated_service_account","service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken","source_credentials":{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}}`,
		`{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nfuzz\n-----END PRIVATE KEY-----\n"}`,
		`{"installed":{"client_id":"c"}}`,
		`{}`, `[]`, `""`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	opts := &Options{Getenv: func(string) string { return "" }, HomeDir: f.TempDir()}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := FromJSON(data, opts)
		if (c == nil) == (err == nil) {
			t.Fatalf("FromJSON = %v, %v; want exactly one of credentials and error", c, err)
		}
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Fatalf("error spans lines: %q", msg)
		}
		var fields map[string]any
		if json.Unmarshal(data, &fields) != nil {
			return
		}
		for _, k := range []string{"private_key", "client_secret", "refresh_token"} {
			if v, ok := fields[k].(string); ok && len(v) >= 12 && strings.Contains(msg, v) {
				t.Fatalf("error quotes the %s value: %q", k, msg)
			}
		}
	})
}
