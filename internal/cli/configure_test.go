package cli

import "testing"

func TestValidHostPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"gcr.io", true},
		{"us-docker.pkg.dev", true},
		{"127.0.0.1:8443", true},
		{"*.sourcemanager.dev", true},
		{"localhost", true},
		{"", false},
		{"*.", false},
		{"a..b", false},
		{"-a.b", false},
		{"a-.b", false},
		{"a b", false},
		{"host:", false},
		{"host:0", false},
		{"host:65536", false},
		{"host:+1", false},
		{"a.*.b", false},
		{"UPPER.example", false}, // callers lower-case first
	}
	for _, tt := range tests {
		if got := validHostPattern(tt.in); got != tt.want {
			t.Errorf("validHostPattern(%q) = %t; want %t", tt.in, got, tt.want)
		}
	}
}
