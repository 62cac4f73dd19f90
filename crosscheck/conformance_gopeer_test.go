package crosscheck_test

// The Go clients of the conformance matrix run in a child of the test
// binary, so that they read HTTPS_PROXY, SSL_CERT_FILE and GCE_METADATA_HOST
// from a real process environment, exactly as an unmodified program does
// (net/http and crypto/x509 read them once per process).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/downscope"
	"cloud.google.com/go/auth/credentials/idtoken"
	"cloud.google.com/go/auth/credentials/impersonate"
	"cloud.google.com/go/auth/httptransport"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	xdownscope "golang.org/x/oauth2/google/downscope"
)

// confGoPeerEnv names the "client/flow" the child runs.
const confGoPeerEnv = "CROSSCHECK_CONFORMANCE_GO_PEER"

func init() {
	// init, not TestMain (metadata_test.go has that): the child must never
	// reach the test runner.
	if cf := os.Getenv(confGoPeerEnv); cf != "" {
		os.Exit(confGoPeer(cf))
	}
}

// confParams is what every conformance peer reads on stdin.
type confParams struct {
	KeyFile         string   `json:"key_file"`
	UserFile        string   `json:"user_file"`
	ImpFile         string   `json:"imp_file"`
	ExtFile         string   `json:"ext_file"`
	ExtAWSFile      string   `json:"ext_aws_file"`
	Target          string   `json:"target"`
	Audience        string   `json:"audience"`
	Scopes          []string `json:"scopes"`
	Lifetime        int      `json:"lifetime"`
	IDToken         string   `json:"id_token"`
	IDTokenAudience string   `json:"id_token_audience"`
	AccessToken     string   `json:"access_token"`
	// For the rows of the endpoint census's items.
	SignedJWT       string `json:"signed_jwt"`       // signJwt output of Target
	JWTAudience     string `json:"jwt_audience"`     // its aud
	FirebaseToken   string `json:"firebase_token"`   // a Firebase ID token
	FirebaseProject string `json:"firebase_project"` // its aud
	IAPAssertion    string `json:"iap_assertion"`    // x-goog-iap-jwt-assertion from the fake's IAP
	IAPAudience     string `json:"iap_audience"`     // its aud
	BogusScope      string `json:"bogus_scope"`      // a scope no Google API has
	URL             string `json:"url"`              // for the plain authorized GETs
	DeviceClientID  string `json:"device_client_id"` // the device flow's OAuth client
	DeviceSecret    string `json:"device_secret"`
}

// confOut is what every conformance peer prints (each sets what its flow
// yields).
type confOut struct {
	Token      string         `json:"token"`
	Expiry     string         `json:"expiry"`      // RFC 3339 (Python, Go)
	ExpiryDate float64        `json:"expiry_date"` // ms since the epoch (Node)
	IDToken    string         `json:"id_token"`
	FileToken  string         `json:"file_token"`
	TokenInfo  map[string]any `json:"tokeninfo"`
	Claims     map[string]any `json:"claims"`
	Project    string         `json:"project"`
	Client     string         `json:"client"`
	// An authorized GET's answer (status, Content-Type, body as text), or
	// the error a client reported for a refused request.
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
	Error       string `json:"error"`
	// Results are a flow's other values, by name (conformance_wire_test.go).
	Results map[string]string `json:"results"`
	// Recursive is a metadata directory's ?recursive=true JSON, decoded
	// with exact numbers by the check.
	Recursive json.RawMessage `json:"recursive"`
}

func confGoPeer(clientFlow string) int {
	var p confParams
	if err := json.NewDecoder(os.Stdin).Decode(&p); err != nil {
		fmt.Fprintf(os.Stderr, "read input: %v\n", err)
		return 2
	}
	run, ok := goConfFlow(clientFlow)
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown client/flow %q\n", clientFlow)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout/2)
	defer cancel()
	out, err := run(ctx, &p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", clientFlow, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "write output: %v\n", err)
		return 1
	}
	return 0
}

// confAuthToken returns a function that turns a constructor's result into the
// output, so it can wrap the constructor call directly.
func confAuthToken(ctx context.Context) func(*auth.Credentials, error) (*confOut, error) {
	return func(creds *auth.Credentials, err error) (*confOut, error) {
		if err != nil {
			return nil, err
		}
		tok, err := creds.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("Token: %w", err)
		}
		return &confOut{Token: tok.Value, Expiry: tok.Expiry.UTC().Format(time.RFC3339)}, nil
	}
}

func confGoSource(p *confParams) (*auth.Credentials, error) {
	return credentials.NewCredentialsFromFile(credentials.ServiceAccount, p.KeyFile,
		&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}})
}

func confBoundaryRule() (resource string, permissions []string) {
	return "//storage.googleapis.com/projects/_/buckets/conformance-bucket", []string{"inRole:roles/storage.objectViewer"}
}

// goConfFlows are the Go cells, by "client/flow". Each uses the library as
// documented, with no endpoint option: the URLs are Google's.
var goConfFlows = map[string]func(ctx context.Context, p *confParams) (*confOut, error){
	"go-auth/sa_access": func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := confGoSource(p)
		return confAuthToken(ctx)(creds, err)
	},
	"go-auth/sa_id": func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := idtoken.NewCredentials(&idtoken.Options{Audience: p.Audience, CredentialsFile: p.KeyFile})
		return confAuthToken(ctx)(creds, err)
	},
	"go-auth/user_refresh": func(ctx context.Context, p *confParams) (*confOut, error) {
		// No TokenURL: the library's default, Google's.
		creds, err := credentials.NewCredentialsFromFile(credentials.AuthorizedUser, p.UserFile,
			&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}})
		return confAuthToken(ctx)(creds, err)
	},
	"go-auth/mds_token": func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}})
		return confAuthToken(ctx)(creds, err)
	},
	"go-auth/mds_id": func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := idtoken.NewCredentials(&idtoken.Options{Audience: p.Audience})
		return confAuthToken(ctx)(creds, err)
	},
	"go-auth/mds_project": func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}})
		if err != nil {
			return nil, err
		}
		project, err := creds.ProjectID(ctx)
		return &confOut{Project: project}, err
	},
	"go-auth/imp_access": func(ctx context.Context, p *confParams) (*confOut, error) {
		src, err := confGoSource(p)
		if err != nil {
			return nil, err
		}
		out, err := confAuthToken(ctx)(impersonate.NewCredentials(&impersonate.CredentialsOptions{
			TargetPrincipal: p.Target, Scopes: p.Scopes, Lifetime: time.Duration(p.Lifetime) * time.Second, Credentials: src}))
		if err != nil {
			return nil, err
		}
		file, err := confAuthToken(ctx)(credentials.NewCredentialsFromFile(credentials.ImpersonatedServiceAccount, p.ImpFile,
			&credentials.DetectOptions{Scopes: p.Scopes}))
		if err != nil {
			return nil, fmt.Errorf("impersonated_service_account file: %w", err)
		}
		out.FileToken = file.Token
		return out, nil
	},
	"go-auth/imp_id": func(ctx context.Context, p *confParams) (*confOut, error) {
		src, err := confGoSource(p)
		if err != nil {
			return nil, err
		}
		return confAuthToken(ctx)(impersonate.NewIDTokenCredentials(&impersonate.IDTokenOptions{
			Audience: p.Audience, TargetPrincipal: p.Target, IncludeEmail: true, Credentials: src}))
	},
	"go-auth/downscope": func(ctx context.Context, p *confParams) (*confOut, error) {
		src, err := confGoSource(p)
		if err != nil {
			return nil, err
		}
		res, perms := confBoundaryRule()
		return confAuthToken(ctx)(downscope.NewCredentials(&downscope.Options{Credentials: src,
			Rules: []downscope.AccessBoundaryRule{{AvailableResource: res, AvailablePermissions: perms}}}))
	},
	"go-auth/verify": func(ctx context.Context, p *confParams) (*confOut, error) {
		// Validate fetches Google's JWKS URL.
		payload, err := idtoken.Validate(ctx, p.IDToken, p.IDTokenAudience)
		if err != nil {
			return nil, err
		}
		return &confOut{Claims: payload.Claims}, nil
	},
	"go-auth/ext_file": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confAuthToken(ctx)(credentials.NewCredentialsFromFile(credentials.ExternalAccount, p.ExtFile,
			&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}}))
	},
	"go-auth/ext_aws": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confAuthToken(ctx)(credentials.NewCredentialsFromFile(credentials.ExternalAccount, p.ExtAWSFile,
			&credentials.DetectOptions{Scopes: []string{scopeCloudPlatform}}))
	},

	"go-oauth2/sa_access": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confOAuth2Token(ctx, p.KeyFile, google.ServiceAccount, scopeCloudPlatform)
	},
	"go-oauth2/sa_id": func(ctx context.Context, p *confParams) (*confOut, error) {
		data, err := os.ReadFile(p.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg, err := google.JWTConfigFromJSON(data)
		if err != nil {
			return nil, err
		}
		cfg.PrivateClaims = map[string]any{"target_audience": p.Audience}
		cfg.UseIDToken = true
		tok, err := cfg.TokenSource(ctx).Token()
		if err != nil {
			return nil, err
		}
		return &confOut{Token: tok.AccessToken, Expiry: tok.Expiry.UTC().Format(time.RFC3339)}, nil
	},
	"go-oauth2/user_refresh": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confOAuth2Token(ctx, p.UserFile, google.AuthorizedUser, scopeCloudPlatform)
	},
	"go-oauth2/mds_token": func(ctx context.Context, p *confParams) (*confOut, error) {
		tok, err := google.ComputeTokenSource("", scopeCloudPlatform).Token()
		if err != nil {
			return nil, err
		}
		return &confOut{Token: tok.AccessToken, Expiry: tok.Expiry.UTC().Format(time.RFC3339)}, nil
	},
	"go-oauth2/mds_project": func(ctx context.Context, p *confParams) (*confOut, error) {
		creds, err := google.FindDefaultCredentials(ctx, scopeCloudPlatform)
		if err != nil {
			return nil, err
		}
		return &confOut{Project: creds.ProjectID}, nil
	},
	"go-oauth2/imp_access": func(ctx context.Context, p *confParams) (*confOut, error) {
		out, err := confOAuth2Token(ctx, p.ImpFile, google.ImpersonatedServiceAccount, p.Scopes...)
		if err != nil {
			return nil, err
		}
		out.FileToken, out.Expiry = out.Token, "" // the file's lifetime is the default hour
		return out, nil
	},
	"go-oauth2/ext_file": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confOAuth2Token(ctx, p.ExtFile, google.ExternalAccount, scopeCloudPlatform)
	},
	"go-oauth2/ext_aws": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confOAuth2Token(ctx, p.ExtAWSFile, google.ExternalAccount, scopeCloudPlatform)
	},
	"go-oauth2/downscope": func(ctx context.Context, p *confParams) (*confOut, error) {
		data, err := os.ReadFile(p.KeyFile)
		if err != nil {
			return nil, err
		}
		src, err := google.CredentialsFromJSONWithType(ctx, data, google.ServiceAccount, scopeCloudPlatform)
		if err != nil {
			return nil, err
		}
		res, perms := confBoundaryRule()
		ts, err := xdownscope.NewTokenSource(ctx, xdownscope.DownscopingConfig{RootSource: src.TokenSource,
			Rules: []xdownscope.AccessBoundaryRule{{AvailableResource: res, AvailablePermissions: perms}}})
		if err != nil {
			return nil, err
		}
		tok, err := ts.Token()
		if err != nil {
			return nil, err
		}
		return &confOut{Token: tok.AccessToken, Expiry: tok.Expiry.UTC().Format(time.RFC3339)}, nil
	},
}

// goCensusFlows are the Go cells of the rows for the census's items (what
// the fake serves since the endpoint census), by "client/flow".
var goCensusFlows = map[string]func(ctx context.Context, p *confParams) (*confOut, error){
	"go-auth/userinfo": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confGoUserinfo(ctx)(confAuthClient(credentials.AuthorizedUser, p.UserFile, nil))
	},
	"go-oauth2/userinfo": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confGoUserinfo(ctx)(confOAuth2Client(ctx, p.UserFile, google.AuthorizedUser))
	},
	"go-auth/tokeninfo_v1": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confGet(ctx, p.URL)(confAuthClient(credentials.ServiceAccount, p.KeyFile, []string{scopeCloudPlatform}))
	},
	"go-oauth2/tokeninfo_v1": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confGet(ctx, p.URL)(confOAuth2Client(ctx, p.KeyFile, google.ServiceAccount, scopeCloudPlatform))
	},
	"go-auth/not_found": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confGet(ctx, p.URL)(confAuthClient(credentials.ServiceAccount, p.KeyFile, []string{scopeCloudPlatform}))
	},
	"go-oauth2/not_found": func(ctx context.Context, p *confParams) (*confOut, error) {
		return confGet(ctx, p.URL)(confOAuth2Client(ctx, p.KeyFile, google.ServiceAccount, scopeCloudPlatform))
	},
	"go-auth/sa_keys": func(ctx context.Context, p *confParams) (*confOut, error) {
		// A receiver of signJwt output: the signer's JWK URL as the
		// validator's RS256 certificate URL.
		v, err := idtoken.NewValidator(&idtoken.ValidatorOptions{
			RS256CertsURL: "https://www.googleapis.com/service_accounts/v1/metadata/jwk/" + p.Target})
		if err != nil {
			return nil, err
		}
		payload, err := v.Validate(ctx, p.SignedJWT, p.JWTAudience)
		if err != nil {
			return nil, err
		}
		return &confOut{Claims: payload.Claims}, nil
	},
	"go-auth/iap": func(ctx context.Context, p *confParams) (*confOut, error) {
		// Validate picks IAP's ES256 keys for an ES256 token.
		payload, err := idtoken.Validate(ctx, p.IAPAssertion, p.IAPAudience)
		if err != nil {
			return nil, err
		}
		return &confOut{Claims: payload.Claims}, nil
	},
	"go-auth/invalid_scope": func(ctx context.Context, p *confParams) (*confOut, error) {
		_, err := confAuthToken(ctx)(credentials.NewCredentialsFromFile(credentials.ServiceAccount, p.KeyFile,
			&credentials.DetectOptions{Scopes: []string{p.BogusScope}}))
		return confRefused(err)
	},
	"go-oauth2/invalid_scope": func(ctx context.Context, p *confParams) (*confOut, error) {
		_, err := confOAuth2Token(ctx, p.KeyFile, google.ServiceAccount, p.BogusScope)
		return confRefused(err)
	},
	"go-oauth2/device": func(ctx context.Context, p *confParams) (*confOut, error) {
		cfg := oauth2.Config{ClientID: p.DeviceClientID, ClientSecret: p.DeviceSecret, Endpoint: google.Endpoint,
			Scopes: []string{"openid", "email"}}
		da, err := cfg.DeviceAuth(ctx)
		if err != nil {
			return nil, fmt.Errorf("DeviceAuth: %w", err)
		}
		tok, err := cfg.DeviceAccessToken(ctx, da)
		if err != nil {
			return nil, fmt.Errorf("DeviceAccessToken: %w", err)
		}
		out := &confOut{Token: tok.AccessToken, Expiry: tok.Expiry.UTC().Format(time.RFC3339), Body: da.VerificationURI}
		out.IDToken, _ = tok.Extra("id_token").(string)
		return out, nil
	},
}

// goConfFlow returns the Go cell for "client/flow".
func goConfFlow(clientFlow string) (func(ctx context.Context, p *confParams) (*confOut, error), bool) {
	if run, ok := goConfFlows[clientFlow]; ok {
		return run, true
	}
	run, ok := goCensusFlows[clientFlow]
	return run, ok
}

// confAuthClient is cloud.google.com/go/auth's authorized HTTP client for a
// credential file, or a client whose every request fails with err.
func confAuthClient(typ credentials.CredType, file string, scopes []string) (*http.Client, error) {
	creds, err := credentials.NewCredentialsFromFile(typ, file, &credentials.DetectOptions{Scopes: scopes})
	if err != nil {
		return nil, err
	}
	return httptransport.NewClient(&httptransport.Options{Credentials: creds})
}

// confOAuth2Client is golang.org/x/oauth2's authorized HTTP client.
func confOAuth2Client(ctx context.Context, file string, typ google.CredentialsType, scopes ...string) (*http.Client, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, data, typ, scopes...)
	if err != nil {
		return nil, err
	}
	return oauth2.NewClient(ctx, creds.TokenSource), nil
}

// confGet returns a function that sends an authorized GET with the client
// it is given and reports the answer, whatever its status.
func confGet(ctx context.Context, url string) func(*http.Client, error) (*confOut, error) {
	return func(client *http.Client, err error) (*confOut, error) {
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return &confOut{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)}, err
	}
}

// confGoUserinfo returns a function that follows the discovery document
// to userinfo_endpoint with the client it is given.
func confGoUserinfo(ctx context.Context) func(*http.Client, error) (*confOut, error) {
	return func(client *http.Client, err error) (*confOut, error) {
		doc, err := confGet(ctx, "https://accounts.google.com/.well-known/openid-configuration")(client, err)
		if err != nil {
			return nil, err
		}
		var d struct {
			UserinfoEndpoint string `json:"userinfo_endpoint"`
		}
		if err := json.Unmarshal([]byte(doc.Body), &d); err != nil || d.UserinfoEndpoint == "" {
			return nil, fmt.Errorf("discovery document %q: no userinfo_endpoint (%v)", doc.Body, err)
		}
		out, err := confGet(ctx, d.UserinfoEndpoint)(client, nil)
		if err != nil {
			return nil, err
		}
		out.Client = d.UserinfoEndpoint
		return out, nil
	}
}

// confRefused turns the error of a request that had to be refused into
// output, and its absence into an error.
func confRefused(err error) (*confOut, error) {
	if err == nil {
		return nil, fmt.Errorf("the request succeeded; want Google's refusal")
	}
	return &confOut{Error: err.Error()}, nil
}

func confOAuth2Token(ctx context.Context, file string, typ google.CredentialsType, scopes ...string) (*confOut, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	creds, err := google.CredentialsFromJSONWithType(ctx, data, typ, scopes...)
	if err != nil {
		return nil, err
	}
	tok, err := creds.TokenSource.Token()
	if err != nil {
		return nil, err
	}
	out := &confOut{Token: tok.AccessToken, Expiry: tok.Expiry.UTC().Format(time.RFC3339)}
	out.IDToken, _ = tok.Extra("id_token").(string)
	return out, nil
}
