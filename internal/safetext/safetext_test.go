package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ascii", "invalid_grant: Bad Request", "invalid_grant: Bad Request"},
		{"non-ascii letters kept", "Zugriff verweigert – ß, 日本", "Zugriff verweigert – ß, 日本"},
		{"newline", "a\nb", `a\nb`},
		{"carriage return", "ok\rEVIL", `ok\rEVIL`},
		{"escape sequence", "\x1b]0;owned\x07title", `\x1b]0;owned\x07title`},
		{"csi", "\x1b[2J", `\x1b[2J`},
		{"del", "a\x7fb", `a\x7fb`},
		{"c1 csi", "a\u009bb", `a\x9bb`},
		{"bidi override", "abc\u202edcba", `abc\u202edcba`},
		{"bidi isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"zero width joiner", "a\u200db", `a\u200db`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid utf-8", "a\xffb", `a\xffb`},
		{"encoded lone surrogate", "a\xed\xa0\x80b", `a\xed\xa0\x80b`},
		{"nul", "a\x00b", `a\x00b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	got := OneLine("  Token has been expired\n or revoked.\r\n\x1b[31mred ")
	want := `Token has been expired or revoked. \x1b[31mred`
	if got != want {
		t.Errorf("OneLine = %q; want %q", got, want)
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "abc", "\x1b[0m", "\u202e", "\xff\xfe", "a\nb\u2028c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if unsafeRune(r) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, out, r)
			}
		}
		if line := OneLine(s); strings.ContainsAny(line, "\n\r") {
			t.Fatalf("OneLine(%q) = %q spans lines", s, line)
		}
	})
}

func BenchmarkEscapeClean(b *testing.B) {
	s := "invalid_grant: Invalid JWT Signature."
	b.ReportAllocs()
	for b.Loop() {
		_ = Escape(s)
	}
}
