package emulator

import (
	"context"
	"log/slog"
	"strings"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// newMetadataServer serves the fake service account as a VM of the fake
// would see it: access tokens minted at the fake's token endpoint
// (Compute Engine's are plain access tokens too; outside googleapis.com,
// where keys cannot be exchanged, minted by the fake directly), ID tokens
// minted by the fake itself in Compute Engine's shape (computeSource),
// and the fake's universe domain.
func newMetadataServer(fake *fakegoogle.Server, logger *slog.Logger, allowedHosts []string) (*metadataserver.Server, error) {
	key, err := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
	if err != nil {
		return nil, err
	}
	creds, err := credentials.FromJSON(key, nil)
	if err != nil {
		return nil, err
	}
	return metadataserver.New(&metadataserver.Options{
		Source:              computeSource{fake: fake, creds: creds, account: fakegoogle.DefaultServiceAccount},
		ServiceAccountEmail: fakegoogle.DefaultServiceAccount,
		ProjectID:           fakegoogle.DefaultProjectID,
		NumericProjectID:    fakegoogle.DefaultProjectNumber,
		UniverseDomain:      fake.UniverseDomain(),
		AllowedHosts:        allowedHosts,
		Logger:              logger,
	})
}

// computeSource is the metadata server's Source. Its ID
// tokens come from fakegoogle.MintComputeIDToken, so they carry exactly the
// claims Compute Engine's do for each format (standard: no email), not the
// token endpoint's, which a service-account key would get.
type computeSource struct {
	fake    *fakegoogle.Server
	creds   *credentials.Credentials
	account string
}

func (s computeSource) AccessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	if s.fake.UniverseDomain() == credentials.DefaultUniverseDomain {
		return s.creds.AccessTokenProvider(scopes)
	}
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		tok, exp, err := s.fake.MintAccessToken(s.account, scopes)
		if err != nil {
			return nil, err
		}
		return &gcptoken.Token{Value: tok, Type: "Bearer", Kind: gcptoken.AccessToken, Expiry: exp,
			Metadata: map[string]string{gcptoken.MetaScope: strings.Join(scopes, " ")}}, nil
	}), nil
}

func (s computeSource) IDTokenProvider(req metadataserver.IDTokenRequest) (gcptoken.TokenProvider, error) {
	mint := fakegoogle.ComputeIDTokenRequest{
		ServiceAccount: s.account, Audience: req.Audience, Format: req.Format, Licenses: req.Licenses,
	}
	if in := req.Instance; in != nil {
		mint.Instance = fakegoogle.ComputeInstance{
			ProjectID: in.ProjectID, ProjectNumber: in.NumericProjectID, Zone: in.Zone, InstanceID: in.InstanceID,
			InstanceName: in.InstanceName, CreationTime: in.CreationTime, LicenseIDs: in.Licenses,
		}
	}
	return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		tok, exp, err := s.fake.MintComputeIDToken(mint)
		if err != nil {
			return nil, err
		}
		return &gcptoken.Token{Value: tok, Type: "Bearer", Kind: gcptoken.IDToken, Expiry: exp,
			Metadata: map[string]string{gcptoken.MetaAudience: req.Audience}}, nil
	}), nil
}
