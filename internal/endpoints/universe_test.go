package endpoints

import "testing"

func TestCheckUniverseDomain(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d  string
		ok bool
	}{
		{"googleapis.com", true},
		{"apis-tpc.example-1.goog", true},
		{"", false},
		{"localhost", false},
		{"GoogleAPIs.com", false},
		{"googleapis.com.", false},
		{"googleapis.com@attacker.example", false},
		{"attacker.example/x", false},
		{"attacker.example:443", false},
		{"-bad.example", false},
		{"bad-.example", false},
		{"a..example", false},
	} {
		if err := CheckUniverseDomain(tt.d); (err == nil) != tt.ok {
			t.Errorf("CheckUniverseDomain(%q) = %v; want ok %v", tt.d, err, tt.ok)
		}
	}
	if got := ServiceURL(ServiceSTS, ""); got != "https://sts.googleapis.com" {
		t.Errorf("ServiceURL(sts, \"\") = %q", got)
	}
	if got := ServiceURL(ServiceIAMCredentials, "u.example"); got != "https://iamcredentials.u.example" {
		t.Errorf("ServiceURL(iamcredentials, u.example) = %q", got)
	}
}
