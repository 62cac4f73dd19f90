package credentials

import (
	"errors"
	"fmt"
	"strings"
)

// errSubjectIDToken is IDTokenProvider's answer after WithSubject.
var errSubjectIDToken = errors.New("credentials: credentials with a subject (domain-wide delegation) " +
	"get access tokens only; for an ID token use the credential without WithSubject")

// WithSubject returns a copy of c whose access tokens act as the Google
// Workspace user subject (domain-wide delegation); c itself is unchanged.
// The service account must be allowed to act for the domain's users, for
// the scopes asked for, in the Workspace admin console.
//
//   - A service-account key signs the JWT-bearer assertion with "sub" set to
//     subject.
//   - Impersonated credentials (Impersonate, impersonated_service_account)
//     have no key: the same assertion, with iss = the target, is signed by
//     the IAM Credentials API's signJwt as the target (through the
//     delegates), then exchanged at the token endpoint
//     (ImpersonateOptions.TokenURL or Options.TokenURL, default Google's).
//     The target must then be given as an email.
//   - Other credentials cannot sign for a service account, and get an error.
//
// The copy's Principal is subject, and its Identity differs from c's. It
// makes access tokens only: IDTokenProvider and SelfSignedJWTProvider
// return errors.
//
// A method rather than an ImpersonateOptions field because it applies to
// keys as well, and a method rather than an Options field because a subject
// is chosen per use (gcloud's --subject), after the credential is found.
func (c *Credentials) WithSubject(subject string) (*Credentials, error) {
	if c.impl == nil {
		return nil, errNotLoaded
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	out := *c
	out.memo = newTokenMemo() // another principal: not the source's tokens
	switch impl := c.impl.(type) {
	case *serviceAccount:
		sa := *impl
		sa.subject = subject
		out.impl = &sa
	case *impersonated:
		if !strings.Contains(impl.target, "@") {
			return nil, fmt.Errorf("credentials: WithSubject: the impersonation target %q must be an email, not a unique id: "+
				"it is the iss of the JWT that IAM signs", impl.target)
		}
		imp := *impl // shares the source's cached token
		imp.subject = subject
		out.impl = &imp
	default:
		return nil, fmt.Errorf("credentials: WithSubject: a subject needs a service-account key or impersonation (signJwt); "+
			"%s credentials have neither", c.Type)
	}
	out.Principal = subject
	base := c.Source
	if prev := c.subject(); prev != "" {
		base = strings.TrimSuffix(base, subjectSource(prev))
	}
	out.Source = base + subjectSource(subject)
	out.Steps = append([]Step(nil), c.Steps...)
	return &out, nil
}

// subject is the credential's domain-wide-delegation subject, if any.
func (c *Credentials) subject() string {
	switch impl := c.impl.(type) {
	case *serviceAccount:
		return impl.subject
	case *impersonated:
		return impl.subject
	}
	return ""
}

func subjectSource(subject string) string { return ", acting as " + subject }

// checkSubject accepts a user's email. Identity relies on it having no "|".
func checkSubject(s string) error {
	switch {
	case s == "":
		return errors.New("credentials: WithSubject: empty subject")
	case strings.ContainsAny(s, "| \t\r\n") || !strings.Contains(s, "@"):
		return fmt.Errorf("credentials: WithSubject: subject %q is not an email address", trimForError(s))
	}
	return nil
}

// subjectIdentity is what a subject adds to a key's identity: nothing
// without one, so that identities (and cache keys) made before subjects
// existed stay the same.
func subjectIdentity(subject string) string {
	if subject == "" {
		return ""
	}
	return "|sub:" + subject
}
