package jwtinfo

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jwt assembles a token from raw JSON segments and a raw signature.
func jwt(header, claims, sig string) string {
	return b64(header) + "." + b64(claims) + "." + b64(sig)
}

const rs256 = `{"alg":"RS256","kid":"abc","typ":"JWT"}`

func TestDecode(t *testing.T) {
	t.Parallel()
	good := jwt(rs256, `{"iss":"https://accounts.google.com","aud":"x","exp":1700003600,"iat":1700000000}`, "sig-bytes")
	tests := []struct {
		name    string
		token   string
		wantErr string // substring; "" means success
		check   func(t *testing.T, d *Decoded)
	}{
		{name: "valid", token: good, check: func(t *testing.T, d *Decoded) {
			if d.Header["alg"] != "RS256" || d.Header["kid"] != "abc" {
				t.Errorf("Header = %v", d.Header)
			}
			if d.Claims["iss"] != "https://accounts.google.com" {
				t.Errorf("Claims[iss] = %v", d.Claims["iss"])
			}
			if string(d.Signature) != "sig-bytes" {
				t.Errorf("Signature = %q; want %q", d.Signature, "sig-bytes")
			}
			if d.Raw != good {
				t.Errorf("Raw = %q; want the input", d.Raw)
			}
		}},
		{name: "surrounding whitespace trimmed", token: "  " + good + "\n", check: func(t *testing.T, d *Decoded) {
			if d.Raw != good {
				t.Errorf("Raw = %q; want %q", d.Raw, good)
			}
		}},
		{name: "padded base64url tolerated", token: base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." +
			base64.URLEncoding.EncodeToString([]byte(`{"a":1}`)) + "." + base64.URLEncoding.EncodeToString([]byte("s"))},
		{name: "alg none decodes, unsigned", token: b64(`{"alg":"none"}`) + "." + b64(`{"sub":"x"}`) + ".", check: func(t *testing.T, d *Decoded) {
			if d.Header["alg"] != "none" {
				t.Errorf(`Header["alg"] = %v; want "none"`, d.Header["alg"])
			}
			if len(d.Signature) != 0 {
				t.Errorf("Signature = %q; want empty", d.Signature)
			}
		}},
		{name: "big integer keeps every digit", token: jwt(rs256, `{"project_number":123456789012345678901234567890}`, "s"),
			check: func(t *testing.T, d *Decoded) {
				n, ok := d.Claims["project_number"].(json.Number)
				if !ok || n.String() != "123456789012345678901234567890" {
					t.Errorf("Claims[project_number] = %#v; want json.Number 123456789012345678901234567890", d.Claims["project_number"])
				}
			}},
		{name: "empty claims object", token: jwt(rs256, `{}`, "s")},

		{name: "empty", token: "", wantErr: "not a JWT: empty"},
		{name: "opaque access token", token: "ya29.a0AfB_byC-opaque", wantErr: "not a JWT: has 2 segments, want 3"},
		{name: "2 segments", token: b64(rs256) + "." + b64(`{}`), wantErr: "not a JWT: has 2 segments, want 3"},
		{name: "4 segments", token: good + ".extra", wantErr: "not a JWT: has 4 segments, want 3"},
		{name: "JWE", token: "a.b.c.d.e", wantErr: "has 5 segments, want 3 (encrypted JWE"},
		{name: "oversized", token: strings.Repeat("a", MaxSize) + "..", wantErr: "more than the 65536 allowed"},
		{name: "header bad base64url", token: "!!!." + b64(`{}`) + ".", wantErr: "header: bad base64url"},
		{name: "header standard alphabet", token: base64.StdEncoding.EncodeToString([]byte(`{"alg":"RS256","x":">>>?"}`)) + "." + b64(`{}`) + ".", wantErr: "header: bad base64url"},
		{name: "header empty", token: "." + b64(`{}`) + ".", wantErr: "header: empty"},
		{name: "header not JSON", token: jwt("not json", `{}`, ""), wantErr: "header: bad JSON"},
		{name: "header array", token: jwt(`["alg"]`, `{}`, ""), wantErr: "header: not a JSON object (got an array)"},
		{name: "header alg missing", token: jwt(`{"typ":"JWT"}`, `{}`, ""), wantErr: `header: missing "alg"`},
		{name: "header alg not string", token: jwt(`{"alg":256}`, `{}`, ""), wantErr: `header: "alg" is a number, want a string`},
		{name: "header trailing data", token: jwt(`{"alg":"RS256"}{}`, `{}`, ""), wantErr: "header: bad JSON: data after the object"},
		{name: "claims bad base64url", token: b64(rs256) + ".@@.", wantErr: "claims: bad base64url"},
		{name: "claims string", token: jwt(rs256, `"hello"`, ""), wantErr: "claims: not a JSON object (got a string)"},
		{name: "claims null", token: jwt(rs256, `null`, ""), wantErr: "claims: not a JSON object (got null)"},
		{name: "claims number", token: jwt(rs256, `42`, ""), wantErr: "claims: not a JSON object (got a number)"},
		{name: "claims truncated", token: jwt(rs256, `{"exp":`, ""), wantErr: "claims: bad JSON"},
		{name: "claims empty", token: b64(rs256) + "..", wantErr: "claims: empty"},
		{name: "signature bad base64url", token: b64(rs256) + "." + b64(`{}`) + ".***", wantErr: "signature: bad base64url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decode(tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode() error = %v; want one containing %q", err, tt.wantErr)
				}
				if d != nil {
					t.Errorf("Decode() = %+v with an error; want nil", d)
				}
				if LooksLikeJWT(tt.token) {
					t.Errorf("LooksLikeJWT() = true for an undecodable token")
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode() error = %v; want nil", err)
			}
			if !LooksLikeJWT(tt.token) {
				t.Errorf("LooksLikeJWT() = false for a decodable token")
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

func TestTimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims string
		want   time.Time // zero: want ok == false
	}{
		{name: "integer", claims: `{"exp":1700003600,"iat":1700003600}`, want: time.Unix(1700003600, 0)},
		{name: "float", claims: `{"exp":1700003600.25,"iat":1700003600.25}`, want: time.Unix(1700003600, 250_000_000)},
		{name: "exponent", claims: `{"exp":1.7e9,"iat":1.7e9}`, want: time.Unix(1_700_000_000, 0)},
		{name: "zero", claims: `{"exp":0,"iat":0}`, want: time.Unix(0, 0)},
		{name: "missing", claims: `{}`},
		{name: "string", claims: `{"exp":"1700003600","iat":"1700003600"}`},
		{name: "null", claims: `{"exp":null,"iat":null}`},
		{name: "absurdly large int", claims: `{"exp":99999999999999999999,"iat":99999999999999999999}`},
		{name: "absurdly large float", claims: `{"exp":1e300,"iat":1e300}`},
		{name: "beyond int64", claims: `{"exp":9223372036854775808,"iat":9223372036854775808}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decode(jwt(rs256, tt.claims, ""))
			if err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func() (time.Time, bool){"Expiry": d.Expiry, "IssuedAt": d.IssuedAt} {
				got, ok := f()
				if wantOK := !tt.want.IsZero(); ok != wantOK || !got.Equal(tt.want) && wantOK {
					t.Errorf("%s() = %v, %v; want %v, %v", name, got, ok, tt.want, wantOK)
				}
			}
		})
	}
	// Decoded built by hand holds float64 rather than json.Number.
	d := &Decoded{Claims: map[string]any{"exp": float64(1700003600), "iat": math.NaN()}}
	if got, ok := d.Expiry(); !ok || !got.Equal(time.Unix(1700003600, 0)) {
		t.Errorf("Expiry() of float64 = %v, %v; want %v, true", got, ok, time.Unix(1700003600, 0))
	}
	if got, ok := d.IssuedAt(); ok {
		t.Errorf("IssuedAt() of NaN = %v, true; want false", got)
	}
	var nilD *Decoded
	if _, ok := nilD.Expiry(); ok {
		t.Errorf("nil Expiry() ok = true")
	}
}

func TestAudience(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claims string
		want   []string
	}{
		{name: "string", claims: `{"aud":"https://svc.run.app"}`, want: []string{"https://svc.run.app"}},
		{name: "array", claims: `{"aud":["a","b"]}`, want: []string{"a", "b"}},
		{name: "array with non-strings", claims: `{"aud":["a",1,null,"b"]}`, want: []string{"a", "b"}},
		{name: "empty array", claims: `{"aud":[]}`},
		{name: "missing", claims: `{}`},
		{name: "number", claims: `{"aud":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Decode(jwt(rs256, tt.claims, ""))
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Audience(); !slices.Equal(got, tt.want) {
				t.Errorf("Audience() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{999 * time.Millisecond, "now"},
		{-999 * time.Millisecond, "now"},
		{time.Second, "in 1 second"},
		{12 * time.Second, "in 12 seconds"},
		{-12 * time.Second, "12 seconds ago"},
		{59*time.Second + 999*time.Millisecond, "in 59 seconds"},
		{time.Minute, "in 1 minute"},
		{59*time.Minute + 59*time.Second, "in 59 minutes"},
		{-3 * time.Hour, "3 hours ago"},
		{time.Hour, "in 1 hour"},
		{23*time.Hour + 59*time.Minute, "in 23 hours"},
		{24 * time.Hour, "in 1 day"},
		{-400 * 24 * time.Hour, "400 days ago"},
		{math.MaxInt64, "in 106751 days"},
		{math.MinInt64, "106751 days ago"},
	}
	for _, tt := range tests {
		if got := Describe(tt.d); got != tt.want {
			t.Errorf("Describe(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		jwt(rs256, `{"exp":1700003600,"aud":["a"]}`, "sig"),
		jwt(`{"alg":"none"}`, `{"exp":1.5e9,"iat":-1}`, ""),
		"ya29.a0AfB_byC",
		"a.b.c",
		"..",
		"",
		"eyJ.eyJ.",
		b64(rs256) + "." + b64(`{"exp":1e999}`) + ".",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if LooksLikeJWT(s) != (err == nil) {
			t.Fatalf("LooksLikeJWT(%q) disagrees with Decode error %v", s, err)
		}
		if err != nil {
			if d != nil {
				t.Fatalf("Decode(%q) returned both %+v and %v", s, d, err)
			}
			return
		}
		if d.Header == nil || d.Claims == nil {
			t.Fatalf("Decode(%q) = %+v; want non-nil Header and Claims", s, d)
		}
		if _, ok := d.Header["alg"].(string); !ok {
			t.Fatalf("Decode(%q) accepted a header without a string alg: %v", s, d.Header)
		}
		if strings.Count(d.Raw, ".") != 2 {
			t.Fatalf("Decode(%q).Raw = %q; want 3 segments", s, d.Raw)
		}
		d.Expiry()
		d.IssuedAt()
		d.Audience()
		if exp, ok := d.Expiry(); ok {
			Describe(exp.Sub(time.Unix(0, 0)))
		}
	})
}
