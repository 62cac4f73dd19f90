package credsfile

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sync"
)

// Files people pass for a credentials file by mistake, recognised so that
// the error says what the file is and what to do, instead of "malformed
// JSON at line 1, column 2": a key, a certificate, a token, a PKCS #12
// bundle. None of the messages quotes the file's content.

// keyHelp says what a service-account key file is and where it comes from.
const keyHelp = "a service-account key file is JSON (\"type\": \"service_account\") with the key in its private_key field: " + keyCreate

// keyCreate is the command that makes a JSON key.
const keyCreate = "`gcloud iam service-accounts keys create key.json --iam-account=SA_EMAIL` makes one"

var (
	pemLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^-----BEGIN ([A-Z0-9 ]{1,40})-----`) })
	// jwtShape is three base64url segments, the first a JSON object.
	jwtShape = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$`)
	})
)

// recognize returns an error saying what data is when it is a kind of file
// that is often mistaken for a credentials file, and nil otherwise.
func recognize(data []byte) error {
	text := bytes.TrimSpace(data)
	if len(text) > 0 && text[0] == '{' {
		// A JSON object, as every credentials file is, is none of
		// these: the patterns below need not be compiled.
		return nil
	}
	if m := pemLabel().FindSubmatch(text); m != nil {
		return pemError(string(m[1]))
	}
	switch {
	case jwtShape().Match(text):
		return errors.New("is a JWT (a token), not a credentials file: `gcptoken info < FILE` shows what it is; " +
			"a workload's OIDC token file is the subject token of an external_account file " +
			"(`gcptoken create-cred-config PROVIDER --credential-source-file FILE` writes one)")
	case bytes.HasPrefix(text, []byte("ya29.")) && !bytes.ContainsAny(text, " \n{"):
		return errors.New("is an OAuth access token, not a credentials file: send it as \"Authorization: Bearer\" " +
			"(or `gcptoken info < FILE` to see what it is for); " + keyHelp)
	case isPKCS12(data):
		return errors.New("is a PKCS #12 (.p12) key, the legacy format, which gcptoken does not read: " +
			"use a JSON key instead (" + keyCreate + ")")
	}
	return nil
}

func pemError(label string) error {
	switch label {
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY":
		kind := "PEM private key"
		if label != "PRIVATE KEY" {
			kind += " (" + label + ")"
		}
		return fmt.Errorf("is a %s, not a credentials file: %s", kind, keyHelp)
	case "CERTIFICATE", "TRUSTED CERTIFICATE":
		return fmt.Errorf("is a PEM certificate, which holds no secret, not a credentials file: %s; "+
			"for X.509 workload identity federation the credentials file is an external_account file "+
			"(`gcloud iam workload-identity-pools create-cred-config --credential-cert-path`)", keyHelp)
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return fmt.Errorf("is a PEM public key, which holds no secret, not a credentials file: %s", keyHelp)
	}
	return fmt.Errorf("is a PEM file (%s), not a credentials file (JSON): %s", label, keyHelp)
}

// isPKCS12 reports whether data looks like a PKCS #12 bundle: a DER
// SEQUENCE whose first element is the INTEGER 3 (PFX version 3).
func isPKCS12(data []byte) bool {
	if len(data) < 8 || data[0] != 0x30 {
		return false
	}
	// The length of the outer SEQUENCE: short form, or long form with
	// 1 to 4 length bytes.
	i := 2
	if data[1]&0x80 != 0 {
		n := int(data[1] & 0x7f)
		if n < 1 || n > 4 {
			return false
		}
		i += n
	}
	return len(data) >= i+3 && bytes.Equal(data[i:i+3], []byte{0x02, 0x01, 0x03})
}
