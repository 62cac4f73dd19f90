package gcptoken

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckTokenValue(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		wantErr string // "" for a valid token
	}{
		{"access token", "ya29.c.b0AXv0zTOk_fake-Token~value", ""},
		{"jwt", "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln", ""},
		{"standard base64 with padding", "YWJj+/de==", ""},
		{"empty", "", "empty"},
		{"newline", "ya29.abc\nexport X=1", "0x0a at offset 8"},
		{"space", "ya29.abc def", "0x20 at offset 8"},
		{"quote", "ya29.abc'def", `'\'' at offset 8`},
		{"command substitution", "$(touch pwned)", `'$' at offset 0`},
		{"escape sequence", "abc\x1b]0;x\x07", "0x1b at offset 3"},
		{"non-ascii", "abc\u202edef", "0xe2 at offset 3"},
		{"padding in the middle", "ab=cd", `'c' at offset 3 follows '=' padding`},
		{"only padding", "==", "starts with '='"},
		{"too long", strings.Repeat("a", MaxTokenLength+1), "more than the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTokenValue(tt.value)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckTokenValue = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckTokenValue = %v; want an error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrMalformedToken) {
				t.Errorf("errors.Is(%v, ErrMalformedToken) = false", err)
			}
			if len(tt.value) > 3 && strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
}

func FuzzCheckTokenValue(f *testing.F) {
	for _, s := range []string{"ya29.x", "a=", "\n", "a b", "$(x)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if CheckTokenValue(v) != nil {
			return
		}
		// Whatever passes must be inert in a header, a quoted shell
		// word and a terminal.
		if strings.ContainsAny(v, " \t\r\n\"'`$\\;&|<>(){}!*?#\x1b\x00") {
			t.Fatalf("CheckTokenValue(%q) = nil for a value with a special character", v)
		}
	})
}

func TestCheckTokenType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  string
		want bool // accepted
	}{
		{"", true},
		{"Bearer", true},
		{"bearer", true},
		{"N_A", true},
		{"DPoP-1.0", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"Bearer x", false},
		{"Bearer\r\nX-Evil: 1", false},
		{"Bé", false},
	}
	for _, tt := range tests {
		err := CheckTokenType(tt.typ)
		if (err == nil) != tt.want {
			t.Errorf("CheckTokenType(%q) = %v; want accepted = %v", tt.typ, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrMalformedToken) {
			t.Errorf("CheckTokenType(%q) = %v; want it to match ErrMalformedToken", tt.typ, err)
		}
	}
}
