// Package gcptoken is the core of gcptoken, a library for Google Cloud
// bearer tokens: access tokens for Google APIs and ID tokens for services
// such as Cloud Run, from every credential Google's libraries accept.
//
// # The common tasks
//
// Each is one call, cached by default: tokens are reused until shortly
// before they expire, refreshed ahead of time, and concurrent callers share
// one request. Credentials are Application Default Credentials unless
// given.
//
//	const svc = "https://svc-abc-uc.a.run.app"            // a private Cloud Run service
//	tok, err := credentials.AccessToken(ctx)              // an access token (cloud-platform)
//	tok, err := credentials.IDToken(ctx, svc)             // an ID token for the service
//	client, err := idtoken.NewClient(ctx, svc)            // an http.Client that calls it
//	client, err := credentials.DefaultClient(ctx, nil, nil) // an http.Client for Google APIs
//	payload, err := idtoken.Validate(ctx, token, svc)     // the service checks a caller's token
//
// Task → package:
//
//	find credentials (ADC), load a file         credentials.Detect, FromFile, FromJSON
//	access / ID token of given credentials      (*credentials.Credentials).AccessToken, IDToken
//	a provider to keep (TokenProvider)          (*credentials.Credentials).AccessTokenProvider, IDTokenProvider
//	impersonate, downscope, act as a user       credentials.Impersonate, Downscope, (*Credentials).WithSubject
//	HTTP client with tokens                     idtoken.NewClient (ID tokens), credentials.DefaultClient, (*Credentials).NewClient (either)
//	the token of a request (kind, scopes, …)    credentials.TokenRequest, (*Credentials).ProviderFor
//	a RoundTripper over any TokenProvider       transport.NewTransport
//	verify ID tokens, protect a handler         idtoken.Validate, NewVerifier, Middleware
//	what an access token grants (tokeninfo)     credentials.TokenInfo
//	Cloud client libraries, x/oauth2 code       (*credentials.Credentials).AuthCredentials, TokenSource
//	sign in as a user (browser flow)            oauthflow
//	serve tokens: metadata server, proxy        metadataserver (FromCredentials), authproxy
//	test against a fake Google                  fakegoogle, fakegoogle/fakegoogletest (SetADC, Verifier)
//
// idtoken.NewClient, NewTokenSource and Validate have the signatures of
// google.golang.org/api/idtoken's, so code written for that package moves
// by changing the import.
//
// # Emulator
//
// GCPTOKEN_EMULATOR_HOST=host:port, which `gcptoken emulator` writes into
// its env.sh, sends every request the library makes to Google (the token
// endpoint, also where a credential file names Google's; IAM Credentials;
// STS; the signing keys; the metadata server, unless GCE_METADATA_HOST
// names one) to that fake instead, over plain http. GCPTOKEN_IAM_ENDPOINT,
// GCPTOKEN_STS_ENDPOINT and GCPTOKEN_CERTS_URL override one default each.
// Options that name a URL take precedence over both.
//
// # This package
//
// It holds what the others share: the Token type of access and ID tokens,
// the TokenProvider interface every credential source implements, and the
// one caching wrapper (NewCachedProvider) that adds early refresh,
// coalescing of concurrent refreshes and retries of transient failures to
// a plain source. Package credentials' providers come wrapped already; its
// …Source methods give the plain sources, for code that caches by itself
// or wants other CacheOptions.
//
// Adapters connect a TokenProvider to the two token interfaces of Google's
// Go ecosystem: cloud.google.com/go/auth.TokenProvider (AuthTokenProvider)
// and golang.org/x/oauth2.TokenSource (OAuth2TokenSource); FromAuth and
// FromOAuth2 go the other way.
package gcptoken
