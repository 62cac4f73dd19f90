package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/jwtinfo"
)

// The forms change the same state the emulator's flags set (--token-creator,
// --lifetime-extension, --domain-delegation, --fault, --clock-skew), through
// the fake's own methods, and the identity and IAM changes are saved with
// the state. Each ends with a redirect to its page, which shows the
// outcome.

// identitiesForm serves the forms of the identities page.
func (c *Console) identitiesForm(w http.ResponseWriter, r *http.Request) {
	const to = "identities"
	var what string
	var err error
	switch r.PathValue("action") {
	case "add-service-account":
		email := formValue(r, "email")
		_, err = c.fake.AddServiceAccount(email)
		what = "Added service account " + email
	case "service-account":
		what, err = c.editServiceAccount(formValue(r, "account"), formValue(r, "op"), r)
	case "add-user":
		email := formValue(r, "email")
		if !strings.Contains(email, "@") {
			err = fmt.Errorf("user %q: not an email address", email)
		}
		if err == nil {
			u := c.fake.AddUser(email)
			what = "Added user " + u.Email + " (subject " + u.Subject + ")"
		}
	case "add-provider":
		what, err = c.addProvider(r)
	case "provider":
		audience, op := formValue(r, "audience"), formValue(r, "op")
		err = c.fake.SetIdentityProviderDisabled(audience, op == "disable")
		what = "Enabled identity provider " + audience
		if op == "disable" {
			what = "Disabled identity provider " + audience
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.failed(w, r, to, err)
		return
	}
	c.log.Info("console: "+what, "remote", r.RemoteAddr)
	c.changed(w, r, to, what)
}

// formValue is a trimmed form value.
func formValue(r *http.Request, name string) string { return strings.TrimSpace(r.PostFormValue(name)) }

// editServiceAccount applies one change to an account: enable, disable,
// the lifetime extension, domain-wide delegation, a Token Creator grant.
func (c *Console) editServiceAccount(account, op string, r *http.Request) (string, error) {
	member := formValue(r, "member")
	switch op {
	case "enable":
		return "Enabled " + account, c.fake.SetServiceAccountDisabled(account, false)
	case "disable":
		return "Disabled " + account + ": Google refuses its tokens", c.fake.SetServiceAccountDisabled(account, true)
	case "extend", "unextend":
		verb := "Allowed"
		if op == "unextend" {
			verb = "Stopped allowing"
		}
		return verb + " 12-hour impersonated tokens for " + account, c.fake.AllowLifetimeExtension(account, op == "extend")
	case "delegate":
		scopes := strings.FieldsFunc(formValue(r, "scopes"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
		if len(scopes) == 0 {
			return "Took " + account + " off the domain-wide delegation list", c.fake.AllowDomainWideDelegation(account, nil)
		}
		return "Allowed domain-wide delegation for " + account + " with " + strings.Join(scopes, " "), c.fake.AllowDomainWideDelegation(account, scopes)
	case "grant":
		if member == "" {
			return "", errors.New("grant Token Creator: name a member (an email, or principal://… / principalSet://…)")
		}
		if strings.HasPrefix(member, "principal") {
			return "Granted " + member + " Token Creator on " + account, c.fake.GrantFederatedTokenCreator(member, account)
		}
		return "Granted " + member + " Token Creator on " + account, c.fake.GrantTokenCreator(member, account)
	case "revoke":
		return "Revoked " + member + "'s Token Creator role on " + account, c.fake.RevokeTokenCreator(member, account)
	}
	return "", fmt.Errorf("unknown change %q", op)
}

// addProvider adds a workload or workforce identity pool provider.
func (c *Console) addProvider(r *http.Request) (string, error) {
	p := fakegoogle.IdentityProvider{
		Pool: formValue(r, "pool"), Provider: formValue(r, "provider"), Type: formValue(r, "type"),
		ProjectNumber: formValue(r, "project_number"), AWSAccountID: formValue(r, "aws_account"),
		Workforce: formValue(r, "workforce") == "on", AllowedAudiences: strings.Fields(formValue(r, "audiences")),
	}
	if p.Workforce {
		p.ProjectNumber = "" // the form's default is a workload pool's
	}
	if err := c.fake.AddIdentityProvider(p); err != nil {
		return "", err
	}
	return "Added identity provider " + p.Audience(), nil
}

// revokeForm revokes an issued token, named by its tokenID: the form never
// carries the token. As at Google, revoking a refresh token or one of its
// access tokens revokes them all.
func (c *Console) revokeForm(w http.ResponseWriter, r *http.Request) {
	id := formValue(r, "id")
	for _, it := range c.fake.IssuedTokens() {
		if tokenID(it.Value) == id && it.Kind != fakegoogle.KindWorkforceRefreshToken {
			c.fake.RevokeToken(it.Value)
			c.log.Info("console: revoked a token", "kind", it.Kind, "principal", it.Principal, "fingerprint", fingerprint(it.Value))
			c.changed(w, r, "tokens", "Revoked the "+it.Kind+" "+maskSecret(it.Value)+" of "+it.Principal)
			return
		}
	}
	c.done(w, r, "tokens", flash{Text: "That token is no longer issued (expired or already revoked).", Error: true})
}

// mintForm mints an ID token as a service account for an audience, and
// shows it once.
func (c *Console) mintForm(w http.ResponseWriter, r *http.Request) {
	account, audience := formValue(r, "account"), formValue(r, "audience")
	tok, err := c.fake.MintIDToken(account, audience)
	if err != nil {
		c.failed(w, r, "tokens", err)
		return
	}
	c.log.Info("console: minted an ID token", "service_account", account, "audience", audience)
	view := decodeJWT("the mint form's answer", tok, atNow(c.fake.Now()), c.fake.JWTSigner)
	view.Role = "ID token"
	c.renderTokens(w, r, http.StatusOK, &mintedToken{Token: tok, View: view}, nil)
}

// decodeForm decodes a pasted token here, in the emulator: it is sent
// nowhere else, neither logged nor kept, and the page shows only its
// fingerprint, its decoded parts and what the fake knows of it.
func (c *Console) decodeForm(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	tok = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(tok, "Bearer "), "bearer "))
	if tok == "" {
		c.done(w, r, "tokens", flash{Text: "Paste a token to decode.", Error: true})
		return
	}
	d := &decodedToken{Fingerprint: fingerprint(tok), Length: len(tok)}
	if it, ok := c.fake.LookupToken(tok); ok {
		row := issuedRow(it)
		d.Issued = &row
	}
	switch {
	case jwtinfo.LooksLikeJWT(tok):
		d.JWT = decodeJWT("the pasted text", tok, atNow(c.fake.Now()), c.fake.JWTSigner)
		d.JWT.Role = "JWT"
	case d.Issued == nil:
		d.Unknown = "Not a JWT, and not a token this fake issued (or it has been revoked, or expired and dropped)."
	}
	c.renderTokens(w, r, http.StatusOK, nil, d)
}

// faultsForm serves the faults page: add, remove and clear fault rules
// (ParseFault's grammar, as --fault), and set the clock skew.
func (c *Console) faultsForm(w http.ResponseWriter, r *http.Request) {
	const to = "faults"
	var what string
	var err error
	switch r.PathValue("action") {
	case "add":
		var f fakegoogle.Fault
		if f, err = fakegoogle.ParseFault(formValue(r, "spec")); err == nil {
			err = c.fake.AddFault(f)
			what = "Added fault rule " + f.String()
		}
	case "remove":
		what, err = c.removeFault(formValue(r, "index"), formValue(r, "spec"))
	case "clear":
		c.fake.ClearFaults()
		what = "Removed every fault rule"
	case "clock":
		var d time.Duration
		if d, err = time.ParseDuration(formValue(r, "skew")); err != nil {
			err = fmt.Errorf("clock skew %q: want a duration such as 5m, -30s or 0", formValue(r, "skew"))
		} else {
			c.fake.SetClockSkew(d)
			what = "Set the fake's clock skew to " + d.String()
		}
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		c.failed(w, r, to, err)
		return
	}
	c.log.Info("console: "+what, "remote", r.RemoteAddr)
	c.done(w, r, to, flash{Text: what + "."})
}

// removeFault removes rule index if it is still the rule the page showed.
func (c *Console) removeFault(index, spec string) (string, error) {
	i, err := strconv.Atoi(index)
	rules := c.fake.Faults()
	if err != nil || i < 0 || i >= len(rules) || rules[i].String() != spec {
		return "", errors.New("the fault rules changed since the page was shown: look again and retry")
	}
	return "Removed fault rule " + spec, c.fake.RemoveFault(i)
}
