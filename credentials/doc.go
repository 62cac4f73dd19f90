// Package credentials finds Google Cloud credentials the way Google's client
// libraries do (Application Default Credentials) and turns each kind into
// plain token sources.
//
// [Detect] searches, in Google's order: an explicit file or JSON, the file
// named by GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known
// application_default_credentials.json, then the GCE metadata server. It
// records every step in [Credentials.Steps] so that a user can see why a
// credential was (or was not) picked. [FromFile] and [FromJSON] load one file
// directly.
//
// One file per credential type holds its implementation: serviceaccount.go
// (JWT-bearer grant), authorizeduser.go (refresh-token grant) and metadata.go
// (metadata server, which talks through the exported [MetadataClient] of
// metadataclient.go). Their token providers are plain: each Token call makes
// one request. Caching, early refresh and retries belong to the caching
// wrapper in the root package, which is the only cache.
//
// Every endpoint is configurable through [Options] so that tests, and users,
// can point the package at a fake Google. Errors caused by the credential
// itself satisfy errors.Is(err, gcptoken.ErrInvalidCredentials), and never
// contain secret material.
package credentials
