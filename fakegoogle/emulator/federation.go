package emulator

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// oidcTokenLifetime is how long the OIDC subject token the emulator writes
// stays valid; STS accepts up to 48 hours, and the emulator writes a
// new one each time it starts.
const oidcTokenLifetime = 24 * time.Hour

// writeFederationFiles writes ready-to-use external_account files into the
// emulator's state directory: external-account-aws.json (AWS credentials
// from the emulator's instance metadata, IMDSv2) and
// external-account-oidc.json with the OIDC subject token it reads
// (oidc-token.jwt). Both impersonate DefaultTargetServiceAccount, on which
// every identity of the default pool holds Token Creator, so that access
// and ID tokens work. It returns the lines to add to env.sh.
func writeFederationFiles(fake *fakegoogle.Server, dir string) (string, error) {
	awsPath := filepath.Join(dir, "external-account-aws.json")
	oidcPath := filepath.Join(dir, "external-account-oidc.json")
	tokenPath := filepath.Join(dir, "oidc-token.jwt")
	awsJSON, err := fake.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{
		AWS: true, IMDSv2: true, ServiceAccount: fakegoogle.DefaultTargetServiceAccount,
	})
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	oidcJSON, err := fake.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{
		SubjectTokenFile: tokenPath, ServiceAccount: fakegoogle.DefaultTargetServiceAccount,
	})
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	tok, err := fake.MintOIDCSubjectToken("emulator-workload", "", oidcTokenLifetime)
	if err != nil {
		return "", fmt.Errorf("emulator: %w", err)
	}
	for path, data := range map[string][]byte{awsPath: awsJSON, oidcPath: oidcJSON, tokenPath: []byte(tok + "\n")} {
		if err := writeFile(path, data); err != nil {
			return "", err
		}
	}
	keyID, secret := fake.AWSAccessKey()
	base := fake.BaseURL()
	return lines(
		"# Workload identity federation. An AWS workload (credentials from the",
		"# emulator's instance metadata at "+base+"/latest/):",
		"#   export GOOGLE_APPLICATION_CREDENTIALS="+shellQuote(awsPath),
		"# or with the fake AWS account's IAM user key instead of the instance role:",
		"#   export AWS_ACCESS_KEY_ID="+shellQuote(keyID)+" AWS_SECRET_ACCESS_KEY="+shellQuote(secret)+
			" AWS_REGION="+shellQuote(fakegoogle.FakeAWSRegion),
		"# An OIDC workload (token file "+tokenPath+"):",
		"#   export GOOGLE_APPLICATION_CREDENTIALS="+shellQuote(oidcPath),
		"# `gcptoken create-cred-config --aws` points at the emulator's instance metadata:",
		"export "+endpoints.EnvAWSMetadataEndpoint+"="+shellQuote(base),
	), nil
}
