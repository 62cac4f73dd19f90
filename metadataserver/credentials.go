package metadataserver

import (
	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
)

// FromCredentials returns the Source that serves creds: the plain sources
// of creds.SourceFor (the server caches) for access tokens of the request's
// scopes, and for ID tokens with the request's format and licenses and, for
// FormatFull, the email claims (IDTokenOptions.IncludeEmail), which the
// metadata server's full tokens carry.
//
// A Credentials not made by package credentials (or nil) makes New fail,
// as New asks the Source for the default account's provider.
func FromCredentials(creds *credentials.Credentials) Source {
	return credentialsSource{creds}
}

type credentialsSource struct{ creds *credentials.Credentials }

func (s credentialsSource) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	return s.creds.SourceFor(&credentials.TokenRequest{Scopes: scopes})
}

func (s credentialsSource) IDTokenProvider(req IDTokenRequest) (gcptoken.TokenProvider, error) {
	return s.creds.SourceFor(&credentials.TokenRequest{Kind: gcptoken.IDToken, Audience: req.Audience,
		IDTokenOptions: credentials.IDTokenOptions{
			TokenFormat:  req.Format,
			Licenses:     req.Licenses,
			IncludeEmail: req.Format == FormatFull,
		}})
}
