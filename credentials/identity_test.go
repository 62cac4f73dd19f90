package credentials

import (
	"strings"
	"testing"
)

func TestIdentity(t *testing.T) {
	t.Parallel()
	identity := func(t *testing.T, m map[string]any) string {
		t.Helper()
		c, err := FromJSON(mustJSON(t, m), isolated(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		id := c.Identity()
		assertNoSecrets(t, "Identity()", id)
		return id
	}
	sa := func(k string, v any) map[string]any {
		m := saFile(t, "")
		m[k] = v
		return m
	}
	au := func(k string, v any) map[string]any {
		m := auFile("")
		m[k] = v
		return m
	}
	base := identity(t, saFile(t, ""))
	if !strings.Contains(base, testEmail) || !strings.Contains(base, testKeyID) || !strings.HasPrefix(base, "service_account") {
		t.Errorf("got Identity() = %q; want the type, email and key id", base)
	}
	auBase := identity(t, auFile(""))
	if !strings.HasPrefix(auBase, "authorized_user") || !strings.Contains(auBase, testClientID) {
		t.Errorf("got Identity() = %q; want the type and client id", auBase)
	}

	tests := []struct {
		name string
		base string
		file map[string]any
		same bool
	}{
		{"other SA email", base, sa("client_email", "other@proj.iam.gserviceaccount.com"), false},
		{"other key id", base, sa("private_key_id", "ffff"), false},
		{"same SA, other project", base, sa("project_id", "elsewhere"), true},
		{"other refresh token", auBase, au("refresh_token", "1//another"), false},
		{"other account", auBase, au("account", "someone@example.com"), false},
		{"other client id", auBase, au("client_id", "other.apps.googleusercontent.com"), false},
		{"other client secret only", auBase, au("client_secret", "another-secret"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := identity(t, tt.file)
			if (got == tt.base) != tt.same {
				t.Errorf("got Identity() = %q vs %q: same = %v; want %v", got, tt.base, got == tt.base, tt.same)
			}
		})
	}
}
