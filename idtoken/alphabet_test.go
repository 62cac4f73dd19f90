package idtoken

import "testing"

// The table of the syntax check and the decoder of the last character
// agree on the alphabet.
func TestBase64URLAlphabet(t *testing.T) {
	t.Parallel()
	for c := range 256 {
		if got, want := isBase64URL[c], b64Value(byte(c)) >= 0; got != want {
			t.Errorf("isBase64URL[%#x] = %t; want %t", c, got, want)
		}
	}
}
