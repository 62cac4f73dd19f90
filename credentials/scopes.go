package credentials

// OAuth scopes, declared once for the library and the CLI.
const (
	// ScopeCloudPlatform grants what the principal may do in every Google
	// Cloud API. It is what gcloud asks for, what access tokens get when
	// asked for without scopes (DefaultScope), and what this package asks
	// of a source credential whose token impersonates (the IAM Credentials
	// API accepts cloud-platform or iam) or is downscoped.
	ScopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"
	// ScopeUserInfoEmail lets a user's tokens name the user's email (in
	// tokeninfo, and as the email claim of ID tokens).
	ScopeUserInfoEmail = "https://www.googleapis.com/auth/userinfo.email"
	// ScopeOpenID makes the refresh grant of a user credential return an
	// ID token alongside the access token.
	ScopeOpenID = "openid"
	// ScopePrefix is the common prefix of Google's OAuth scopes: short
	// names such as "cloud-platform" stand for ScopePrefix + name.
	ScopePrefix = "https://www.googleapis.com/auth/"

	// DefaultScope is the scope of access tokens asked for without
	// scopes: see TokenRequest.Scopes and Credentials.AccessTokenProvider.
	DefaultScope = ScopeCloudPlatform

	// scopeIAM is the narrower scope google-auth's self-signed JWT asks
	// for when a key of another universe calls generateIdToken on itself.
	scopeIAM = ScopePrefix + "iam"
)

// UserScopes are the scopes `gcloud auth application-default login` asks
// for (less its Cloud SQL scope): an ID token (openid, with the email) and
// access to Google Cloud.
func UserScopes() []string {
	return []string{ScopeOpenID, ScopeUserInfoEmail, ScopeCloudPlatform}
}

// defaultScopes are what an access token asked for without scopes is for,
// when c's AccessTokenSource is given none: DefaultScope for the types that
// must name a scope (a key's assertion, impersonation, federation), else
// nil, which leaves the choice to the credential (a user's refresh grant
// returns the scopes granted at sign-in, the metadata server its
// instance's; downscoping and workforce users ignore scopes).
func defaultScopes(impl credential) []string {
	switch impl.(type) {
	case *serviceAccount, *impersonated, *externalAccount:
		return []string{DefaultScope}
	}
	return nil
}
