package metadataserver

import (
	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// FromCredentials returns the Source that serves creds: access tokens from
// creds.AccessTokenSource, ID tokens from creds.IDTokenSource with the
// request's format and licenses, and, for FormatFull, the email claims
// (IDTokenOptions.IncludeEmail), which the metadata server's full tokens
// carry. Its providers are the plain …Source forms: the server caches.
//
// A Credentials not made by package credentials (or nil) makes New fail,
// as New asks the Source for the default account's provider.
func FromCredentials(creds *credentials.Credentials) Source {
	return credentialsSource{creds}
}

type credentialsSource struct{ creds *credentials.Credentials }

func (s credentialsSource) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	return s.creds.AccessTokenSource(scopes)
}

func (s credentialsSource) IDTokenProvider(req IDTokenRequest) (gcptoken.TokenProvider, error) {
	return s.creds.IDTokenSource(req.Audience, &credentials.IDTokenOptions{
		TokenFormat:  req.Format,
		Licenses:     req.Licenses,
		IncludeEmail: req.Format == FormatFull,
	})
}
