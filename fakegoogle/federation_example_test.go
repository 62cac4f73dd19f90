package fakegoogle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/auth/credentials"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Workload identity federation offline: an external_account file for an
// OIDC token that the fake's identity provider minted, exchanged at the
// fake's STS by Google's Go library. The token is the federated principal's.
func ExampleServer_ExternalAccountJSON() {
	fake, err := fakegoogle.Start("127.0.0.1:0", &fakegoogle.Options{RSAKeyBits: 1024})
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()

	dir, err := os.MkdirTemp("", "federation-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	oidc, err := fake.MintOIDCSubjectToken("my-workload", "", time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token.jwt")
	if err := os.WriteFile(tokenFile, []byte(oidc), 0o600); err != nil {
		log.Fatal(err)
	}
	file, err := fake.ExternalAccountJSON(fakegoogle.ExternalAccountConfig{SubjectTokenFile: tokenFile})
	if err != nil {
		log.Fatal(err)
	}
	creds, err := credentials.NewCredentialsFromJSON(credentials.ExternalAccount, file,
		&credentials.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.Get(fake.URL + "/tokeninfo?access_token=" + url.QueryEscape(tok.Value))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct{ Sub string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Sub)
	// Output: principal://iam.googleapis.com/projects/987654321098/locations/global/workloadIdentityPools/fake-pool/subject/my-workload
}
