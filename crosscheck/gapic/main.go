// Command gapic is the conformance matrix's peer for Google's generated Go
// clients ("GAPIC" clients): cloud.google.com/go/iam/credentials/apiv1 over
// gRPC and over REST, and google.golang.org/api/sts/v1, each authenticated
// by cloud.google.com/go/auth and talking to Google's real host names, which
// the matrix's proxy answers from fakegoogle.
//
// It is its own module so that these clients and their dependencies
// (cloud.google.com/go, genproto, ...) never enter gcptoken's go.mod. The
// conformance test builds it, runs `gapic FLOW` with the matrix's
// parameters as JSON on stdin, and checks the JSON it prints.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	iamcredentials "cloud.google.com/go/iam/credentials/apiv1"
	"cloud.google.com/go/iam/credentials/apiv1/credentialspb"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/option"
	sts "google.golang.org/api/sts/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"cloud.google.com/go/auth/credentials"
)

// params is the part of the matrix's parameters this peer reads.
type params struct {
	KeyFile       string   `json:"key_file"`
	ExtFile       string   `json:"ext_file"`
	Target        string   `json:"target"`
	DeniedTarget  string   `json:"denied_target"`
	MissingTarget string   `json:"missing_target"`
	Audience      string   `json:"audience"`
	Scopes        []string `json:"scopes"`
	Lifetime      int      `json:"lifetime"`
	AccessToken   string   `json:"access_token"`
}

// output is what the matrix reads back.
type output struct {
	Token   string            `json:"token"`
	Expiry  string            `json:"expiry"`
	IDToken string            `json:"id_token"`
	Results map[string]string `json:"results"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gapic iam_grpc|iam_rest|sts_json < params.json")
		os.Exit(2)
	}
	var p params
	if err := json.NewDecoder(os.Stdin).Decode(&p); err != nil {
		fmt.Fprintf(os.Stderr, "read params: %v\n", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out *output
	var err error
	switch flow := os.Args[1]; flow {
	case "iam_grpc", "iam_rest":
		out, err = iamFlow(ctx, &p, flow == "iam_rest")
	case "sts_json":
		out, err = stsFlow(ctx, &p)
	default:
		err = fmt.Errorf("unknown flow %q", flow)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

// iamFlow calls every IAM Credentials method for the target, and one that
// the caller may not call and one on an account that does not exist.
func iamFlow(ctx context.Context, p *params, rest bool) (*output, error) {
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, p.KeyFile,
		&credentials.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		return nil, err
	}
	newClient := iamcredentials.NewIamCredentialsClient
	if rest {
		newClient = iamcredentials.NewIamCredentialsRESTClient
	}
	c, err := newClient(ctx, option.WithAuthCredentials(creds))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	name := func(email string) string { return "projects/-/serviceAccounts/" + email }
	at, err := c.GenerateAccessToken(ctx, &credentialspb.GenerateAccessTokenRequest{
		Name: name(p.Target), Scope: p.Scopes, Lifetime: durationpb.New(time.Duration(p.Lifetime) * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("GenerateAccessToken: %w", err)
	}
	id, err := c.GenerateIdToken(ctx, &credentialspb.GenerateIdTokenRequest{Name: name(p.Target), Audience: p.Audience, IncludeEmail: true})
	if err != nil {
		return nil, fmt.Errorf("GenerateIdToken: %w", err)
	}
	jwt, err := c.SignJwt(ctx, &credentialspb.SignJwtRequest{Name: name(p.Target), Payload: `{"sub":"gapic","aud":"conformance"}`})
	if err != nil {
		return nil, fmt.Errorf("SignJwt: %w", err)
	}
	blob, err := c.SignBlob(ctx, &credentialspb.SignBlobRequest{Name: name(p.Target), Payload: []byte("conformance blob")})
	if err != nil {
		return nil, fmt.Errorf("SignBlob: %w", err)
	}
	out := &output{Token: at.AccessToken, Expiry: at.ExpireTime.AsTime().UTC().Format(time.RFC3339), IDToken: id.Token,
		Results: map[string]string{
			"jwt_key_id": jwt.KeyId, "signed_jwt": jwt.SignedJwt,
			"blob_key_id": blob.KeyId, "signed_blob": base64.StdEncoding.EncodeToString(blob.SignedBlob),
		}}
	_, err = c.GenerateAccessToken(ctx, &credentialspb.GenerateAccessTokenRequest{Name: name(p.DeniedTarget), Scope: p.Scopes})
	out.Results["denied"] = describe(err, rest)
	_, err = c.GenerateIdToken(ctx, &credentialspb.GenerateIdTokenRequest{Name: name(p.MissingTarget), Audience: p.Audience})
	out.Results["missing"] = describe(err, rest)
	return out, nil
}

// describe is an error as "status reason": the gRPC code or the HTTP
// status, and the ErrorInfo reason.
func describe(err error, rest bool) string {
	var ae *apierror.APIError
	switch {
	case err == nil:
		return "no error"
	case !errors.As(err, &ae):
		return "not an API error: " + err.Error()
	case rest:
		return strconv.Itoa(ae.HTTPCode()) + " " + ae.Reason()
	default:
		return ae.GRPCStatus().Code().String() + " " + ae.Reason()
	}
}

// stsFlow exchanges the OIDC token of the matrix's external_account file,
// and downscopes an access token, with the generated STS client.
func stsFlow(ctx context.Context, p *params) (*output, error) {
	data, err := os.ReadFile(p.ExtFile)
	if err != nil {
		return nil, err
	}
	var ext struct {
		Audience         string `json:"audience"`
		SubjectTokenType string `json:"subject_token_type"`
		CredentialSource struct {
			File string `json:"file"`
		} `json:"credential_source"`
	}
	if err := json.Unmarshal(data, &ext); err != nil {
		return nil, err
	}
	subject, err := os.ReadFile(ext.CredentialSource.File)
	if err != nil {
		return nil, err
	}
	svc, err := sts.NewService(ctx, option.WithoutAuthentication())
	if err != nil {
		return nil, err
	}
	fed, err := svc.V1.Token(&sts.GoogleIdentityStsV1ExchangeTokenRequest{
		GrantType: "urn:ietf:params:oauth:grant-type:token-exchange", RequestedTokenType: "urn:ietf:params:oauth:token-type:access_token",
		SubjectToken: string(subject), SubjectTokenType: ext.SubjectTokenType, Audience: ext.Audience,
		Scope: "https://www.googleapis.com/auth/cloud-platform",
	}).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("federation exchange: %w", err)
	}
	boundary := `{"accessBoundary":{"accessBoundaryRules":[{"availableResource":"//storage.googleapis.com/projects/_/buckets/conformance-bucket",` +
		`"availablePermissions":["inRole:roles/storage.objectViewer"]}]}}`
	down, err := svc.V1.Token(&sts.GoogleIdentityStsV1ExchangeTokenRequest{
		GrantType: "urn:ietf:params:oauth:grant-type:token-exchange", RequestedTokenType: "urn:ietf:params:oauth:token-type:access_token",
		SubjectToken: p.AccessToken, SubjectTokenType: "urn:ietf:params:oauth:token-type:access_token", Options: boundary,
	}).Context(ctx).Do()
	if err != nil {
		return nil, fmt.Errorf("downscoping exchange: %w", err)
	}
	return &output{Token: fed.AccessToken, Results: map[string]string{
		"expires_in": strconv.FormatInt(fed.ExpiresIn, 10), "issued_token_type": fed.IssuedTokenType,
		"downscoped_token": down.AccessToken,
	}}, nil
}
