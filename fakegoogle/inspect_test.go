package fakegoogle

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInspectRegistry checks the accessors against the state the Server's
// methods made.
func TestInspectRegistry(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	extra := mustAddSA(t, f, "extra@p.iam.gserviceaccount.com")
	mustGrant(t, f, "someone@example.com", extra.Email)
	if err := f.AllowLifetimeExtension(extra.Email, true); err != nil {
		t.Fatal(err)
	}
	if err := f.AllowDomainWideDelegation(extra.Email, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetServiceAccountDisabled(extra.Email, true); err != nil {
		t.Fatal(err)
	}

	var emails []string
	for _, sa := range f.ServiceAccounts() {
		emails = append(emails, sa.Email)
		if sa.Email == extra.Email && !sa.Disabled {
			t.Errorf("ServiceAccounts: %s not disabled", sa.Email)
		}
	}
	if want := []string{DefaultServiceAccount, DefaultTargetServiceAccount, extra.Email}; !slices.Equal(emails, want) {
		t.Errorf("got ServiceAccounts %q; want %q", emails, want)
	}
	p, ok := f.IAMPolicy(extra.UniqueID)
	if !ok || !slices.Equal(p.TokenCreators, []string{"someone@example.com"}) || !p.LifetimeExtension ||
		!slices.Equal(p.DomainWideDelegation, []string{scopeEmail}) {
		t.Errorf("got IAMPolicy %+v, %v; want the grant, the extension and the delegation", p, ok)
	}
	if p, _ := f.IAMPolicy(DefaultTargetServiceAccount); !slices.Contains(p.TokenCreators, DefaultWorkloadPoolMember) {
		t.Errorf("got Token Creators %q of %s; want the default pool among them", p.TokenCreators, DefaultTargetServiceAccount)
	}
	if err := f.RevokeTokenCreator(DefaultWorkloadPoolMember, DefaultTargetServiceAccount); err != nil {
		t.Errorf("RevokeTokenCreator of a principalSet: %v", err)
	}
	if p, _ := f.IAMPolicy(DefaultTargetServiceAccount); slices.Contains(p.TokenCreators, DefaultWorkloadPoolMember) {
		t.Errorf("the pool's grant survived RevokeTokenCreator: %q", p.TokenCreators)
	}
	if err := f.SetServiceAccountDisabled(extra.Email, false); err != nil {
		t.Fatal(err)
	}
	if sa, _ := f.ServiceAccount(extra.Email); sa.Disabled {
		t.Error("SetServiceAccountDisabled(false) left the account disabled")
	}
	if us := f.Users(); len(us) != 1 || us[0].Email != DefaultUser {
		t.Errorf("got Users %+v; want the default user", us)
	}
	if cs := f.OAuthClients(); !slices.Equal(cs, []string{DefaultClientID, DefaultWorkforceClientID}) {
		t.Errorf("got OAuthClients %q", cs)
	}
}

// TestIssuedTokens checks the listing and look-up of access and refresh
// tokens, and that an expired access token leaves the listing but can
// still be looked up.
func TestIssuedTokens(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	rt, err := f.IssueRefreshToken(DefaultClientID, DefaultUser, []string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	user := refresh(t, f, DefaultClientID, DefaultClientSecret, rt).json(t)["access_token"].(string)
	sa := saAccessToken(t, f, DefaultServiceAccount, scopeCloudPlatform, clock.Now())

	got := map[string]IssuedToken{}
	for _, it := range f.IssuedTokens() {
		got[it.Value] = it
	}
	if it := got[user]; it.Kind != KindAccessToken || it.Principal != DefaultUser || it.RefreshToken != rt || it.ClientID != DefaultClientID {
		t.Errorf("got user's access token %+v", it)
	}
	if it := got[sa]; it.Principal != DefaultServiceAccount || !it.Expiry.After(clock.Now()) || !slices.Equal(it.Scopes, []string{scopeCloudPlatform}) {
		t.Errorf("got service account's access token %+v", it)
	}
	if it := got[rt]; it.Kind != KindRefreshToken || it.Principal != DefaultUser || !it.Expiry.IsZero() {
		t.Errorf("got refresh token %+v", it)
	}
	clock.Advance(2 * time.Hour)
	for _, it := range f.IssuedTokens() {
		if it.Kind == KindAccessToken {
			t.Errorf("IssuedTokens lists %s's access token after it expired", it.Principal)
		}
	}
	if it, ok := f.LookupToken(sa); !ok || it.Principal != DefaultServiceAccount {
		t.Errorf("got LookupToken of an expired token %+v, %v; want it found", it, ok)
	}
	if _, ok := f.LookupToken("ya29.unknown"); ok {
		t.Error("LookupToken found an unknown token")
	}
}

// TestJWTSigner checks that each kind of the fake's JWTs is traced to its
// key, and that a forged one is traced to none.
func TestJWTSigner(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	idToken, err := f.MintIDToken(DefaultServiceAccount, "https://svc.example")
	if err != nil {
		t.Fatal(err)
	}
	kf, priv := saKey(t, f, DefaultServiceAccount)
	assertion := signJWS(t, priv, map[string]string{"alg": "RS256", "kid": kf.PrivateKeyID}, assertionClaimsFor(DefaultServiceAccount, kf.TokenURI, time.Now()))
	oidc, err := f.MintOIDCSubjectToken("workload", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	iap, err := f.MintIAPAssertion(DefaultIAPAudience, DefaultUser, "1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(idToken, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Split(assertion, ".")[2]
	tests := []struct {
		name, token, want string
		ok                bool
	}{
		{"ID token", idToken, "Google's ID-token signing keys", true},
		{"assertion", assertion, "service account " + DefaultServiceAccount + " (key " + kf.PrivateKeyID + ")", true},
		{"OIDC subject token", oidc, "the fake OIDC identity provider", true},
		{"IAP assertion", iap, "Identity-Aware Proxy", true},
		{"forged", forged, "no key of the fake with kid", false},
		{"not a JWT", "ya29.abc", "not a JWT", false},
	}
	for _, tt := range tests {
		got, ok := f.JWTSigner(tt.token)
		if ok != tt.ok || !strings.Contains(got, tt.want) {
			t.Errorf("%s: got JWTSigner %q, %v; want %v and %q", tt.name, got, ok, tt.ok, tt.want)
		}
	}
}

// TestModels checks which paths the fake answers with an endpoint.
func TestModels(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	for path, want := range map[string]bool{
		"/token": true, "/oauth2/v3/certs": true, "/latest/meta-data/iam/security-credentials": true,
		"/v1/projects/-/serviceAccounts/a@b:generateAccessToken": true, "/fakeidp/jwks": true,
		"/": false, "/_gcptoken/console/": false, "/no/such/endpoint": false,
	} {
		if got := f.Models(path); got != want {
			t.Errorf("Models(%q) = %v; want %v", path, got, want)
		}
	}
}

// TestFaultRulesEdit checks Fault.String against ParseFault, and listing
// and removing rules.
func TestFaultRulesEdit(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"/token:rate=0.2,status=503", "/token:times=1,status=400,code=invalid_grant", "hang",
		"/token:latency=500ms,latency-rate=0.1", "/:rate=0.5,reset", "/oauth2:truncate", "malformed", "/x:content-type",
	} {
		f, err := ParseFault(spec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseFault(f.String())
		if err != nil || back != f {
			t.Errorf("ParseFault(%q).String() = %q, which parses as %+v (%v); want %+v", spec, f.String(), back, err, f)
		}
	}
	f := newFake(t, nil)
	for _, p := range []string{"/a", "/b", "/c"} {
		if err := f.AddFault(Fault{Path: p, Status: 500}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.RemoveFault(1); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range f.Faults() {
		paths = append(paths, r.Path)
	}
	if !slices.Equal(paths, []string{"/a", "/c"}) {
		t.Errorf("got rules %q after removing the second; want /a, /c", paths)
	}
	if err := f.RemoveFault(2); err == nil {
		t.Error("RemoveFault(2) of two rules succeeded")
	}
	f.SetClockSkew(time.Minute)
	if got := f.ClockSkew(); got != time.Minute {
		t.Errorf("got ClockSkew %v; want 1m", got)
	}
}
