// Package credentials finds Google Cloud credentials the way Google's client
// libraries do (Application Default Credentials) and makes tokens of them.
//
// The shortest forms are [AccessToken] and [IDToken] (ADC in one call), and
// a [Credentials]' own AccessToken and IDToken methods: call them for every
// use, as their tokens are cached per scope set and audience. Providers to
// keep come from [Credentials.AccessTokenProvider] and
// [Credentials.IDTokenProvider], cached by the root package's
// NewCachedProvider; [Credentials.AuthCredentials] and
// [Credentials.TokenSource] hand them to Google's Cloud client libraries and
// to golang.org/x/oauth2 code.
//
// [Detect] searches, in Google's order: an explicit file or JSON, the file
// named by GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known
// application_default_credentials.json, the account signed in to gcloud
// (`gcloud auth login`; with [Options].GcloudStore, which module
// github.com/gcptoken/gcptoken/credentials/gcloudstore provides), then the
// GCE metadata server. It
// records every step in [Credentials.Steps] so that a user can see why a
// credential was (or was not) picked. [FromFile] and [FromJSON] load one file
// directly. [ExternalAccountConfig] writes external_account files (as gcloud's
// create-cred-config does) that these load, checked as they would be read.
//
// One file per credential type holds its implementation: serviceaccount.go
// (JWT-bearer grant), authorizeduser.go (refresh-token grant), metadata.go
// (metadata server, which talks through the exported [MetadataClient] of
// metadataclient.go) and impersonate.go (the IAM Credentials API, over any
// other credential: [Impersonate] and impersonated_service_account files,
// whose wire calls are in iam.go). subject.go adds domain-wide delegation
// to keys and impersonation ([Credentials.WithSubject]); selfsignedjwt.go
// signs JWT access tokens locally ([Credentials.SelfSignedJWTProvider]).
// universe.go holds what changes outside Google's public universe
// (googleapis.com): endpoints under the credential's universe domain,
// self-signed JWTs for keys, and [Credentials.CheckUniverseDomain], the
// check a client makes before it sends a token.
// Their sources are plain: each Token call makes one request (the
// …Source methods return them). Caching, early refresh and retries belong
// to the caching wrapper in the root package, which is the only cache.
//
// Every endpoint is configurable through [Options] so that tests, and users,
// can point the package at a fake Google; GCPTOKEN_EMULATOR_HOST points all
// of them at once (see Options.TokenURL). Errors caused by the credential
// itself satisfy errors.Is(err, gcptoken.ErrInvalidCredentials), and never
// contain secret material.
//
// What comes from outside is distrusted where it arrives: every token a
// provider decodes must pass gcptoken.CheckTokenValue (else an error naming
// the endpoint and matching gcptoken.ErrMalformedToken); requests, which
// carry refresh tokens, client secrets, assertions and bearer tokens, do
// not follow redirects to another scheme, host or port; credential and
// subject-token files are read with a size bound and end with the caller's
// context (a FIFO no one writes), and their fields must not hold control
// characters.
package credentials
