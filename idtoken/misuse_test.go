package idtoken_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gcptoken/gcptoken/idtoken"
)

// Misuse fails where the value is made, or with an error on use, naming
// what is wrong: never a panic, and never in the key set's fetch goroutine.
func TestMisuse(t *testing.T) {
	t.Parallel()
	_, err := idtoken.NewVerifier(&idtoken.Options{Audiences: []string{testAud}, KeySet: &idtoken.KeySet{}})
	wantErr(t, "zero KeySet", err, "Options.KeySet is a zero KeySet")
	_, err = idtoken.NewVerifier(&idtoken.Options{Audiences: []string{testAud}, KeySet: staticKeys(t), KeysURL: "https://k.example"})
	wantErr(t, "KeySet and KeysURL", err, "mutually exclusive")
	_, err = (&idtoken.KeySet{}).Key(context.Background(), "kid")
	wantErr(t, "zero KeySet's Key", err, "must be made with NewKeySet")
	_, err = (&idtoken.Verifier{}).Verify(context.Background(), "a.b.c")
	wantErr(t, "zero Verifier", err, "must be made with NewVerifier")
	var nilVerifier *idtoken.Verifier
	_, err = nilVerifier.Verify(context.Background(), "a.b.c")
	wantErr(t, "nil Verifier", err, "must be made with NewVerifier")
	_, err = idtoken.NewVerifier(&idtoken.Options{})
	wantErr(t, "no audience", err, "Options.Audiences is required")
}

func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: error = %v; want one containing %q", what, err, want)
	}
}
