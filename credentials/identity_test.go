package credentials

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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

// TestMetadataIdentity: after an instance's service account is changed,
// tokens cached for the old one must not be reused; one account's identity
// must stay the same from one Detect to the next.
func TestMetadataIdentity(t *testing.T) {
	t.Parallel()
	var email atomic.Value // the instance's service account; "" = 500
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Metadata-Flavor"); got != "Google" {
			t.Errorf("got Metadata-Flavor = %q; want Google", got)
		}
		w.Header().Set("Metadata-Flavor", "Google")
		switch r.URL.Path {
		case emailPath:
			if e := email.Load().(string); e != "" {
				w.Write([]byte(e))
				return
			}
			http.Error(w, "boom", http.StatusInternalServerError)
		case projectPath:
			w.Write([]byte("p"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	identity := func(account string) string {
		t.Helper()
		email.Store(account)
		c, err := Detect(t.Context(), isolated(t, map[string]string{"GCE_METADATA_HOST": host}))
		if err != nil {
			t.Fatal(err)
		}
		return c.Identity()
	}
	a := identity("a@p.iam.gserviceaccount.com")
	if want := "compute_metadata|http://" + host + "|a@p.iam.gserviceaccount.com"; a != want {
		t.Errorf("got Identity() = %q; want %q", a, want)
	}
	if again := identity("a@p.iam.gserviceaccount.com"); again != a {
		t.Errorf("got Identity() = %q, then %q for the same account; want them equal", a, again)
	}
	if b := identity("b@p.iam.gserviceaccount.com"); b == a {
		t.Errorf("got Identity() = %q for two accounts; want them to differ", b)
	}
	if unknown := identity(""); unknown == a {
		t.Errorf("got Identity() = %q with the email unknown; want it to differ from %q", unknown, a)
	}
}
