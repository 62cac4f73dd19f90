// Package crosscheck holds no code, only the cross-check suite: tests proving
// that Google's own client libraries accept fakegoogle, the fake of Google's
// OAuth 2.0 and OpenID Connect endpoints that gcptoken's tests and demo rely
// on, and gcptoken's metadata server.
//
// fakegoogle is only useful if what works against it works against Google.
// Our own tests cannot show that, because client and fake were written by
// the same people from the same reading of the protocol. So each test here
// starts the fake on 127.0.0.1, writes credential files into a temporary
// directory, and lets an independent implementation do the talking:
//
//   - Python google-auth 2.x, as bundled with the Google Cloud CLI
//     (scripts in python/);
//   - Node google-auth-library, pinned in node/package-lock.json (scripts
//     in node/);
//   - the gcloud CLI itself;
//   - Go's cloud.google.com/go/auth and golang.org/x/oauth2, in process.
//
// Each external peer runs as a subprocess with a timeout and an explicit
// environment (its own HOME, no inherited GOOGLE_APPLICATION_CREDENTIALS,
// every metadata-server override pointed at a closed loopback port), prints
// one JSON object, and the Go test asserts on it: tokens are present, expiry
// is about an hour away, ID-token claims are right, and the fake's protected
// sample service accepts the ID token the peer obtained (and refuses a request
// without it).
//
// metadata_test.go does the same for gcptoken's metadata server
// (package metadataserver): each peer, pointed at it only by GCE_METADATA_*
// environment variables, gets an access token, an ID token and the project
// id, exactly as it would on Compute Engine.
//
// impersonate_test.go does it for the fake's IAM Credentials API: Python's
// impersonated_credentials.Credentials (iam_endpoint_override) and Node's
// Impersonated (endpoint) get access tokens for a target service account,
// directly and through a delegate, are refused (403) without the
// delegate's grant, and Node gets ID tokens the sample service accepts. A
// test-only recorder in front of the fake checks what each library sent.
//
// A peer that is not installed skips its test, unless CI=true, where it
// fails: see requirePeer. README.md says how to install each peer.
//
// Run with: go test ./crosscheck/ -v
package crosscheck
