// Package idtoken mints and verifies Google-signed OpenID Connect ID
// tokens: the tokens Google's token endpoint, IAM Credentials and the
// metadata server mint for a target audience (a Cloud Run URL, an OAuth
// client id), and the ES256 assertions Identity-Aware Proxy adds to
// requests.
//
// Its entry points have the names and signatures of
// google.golang.org/api/idtoken, so code written for that package moves by
// changing the import:
//
//	client, err := idtoken.NewClient(ctx, "https://svc-abc-uc.a.run.app") // calls the service
//	ts, err := idtoken.NewTokenSource(ctx, "https://svc-abc-uc.a.run.app") // oauth2.TokenSource
//	payload, err := idtoken.Validate(ctx, token, "https://svc-abc-uc.a.run.app")
//
// Tokens come from Application Default Credentials (or
// ClientOptions.Credentials: any credential of package credentials) and
// are cached. Validate differs from Google's where Google's is unsafe: it
// checks the issuer, and refuses an empty audience rather than skipping the
// check. GCPTOKEN_EMULATOR_HOST points the default key URLs at a fake
// Google.
//
// A [Verifier] checks everything by default: the signature against a
// [KeySet] (Google's published keys, fetched and cached), the algorithm
// against an allow-list (RS256 unless told otherwise; never "none" or HMAC),
// the issuer, the audience, the expiry and the issue time (with a small
// clock skew). Relaxations are explicit Skip… options. A rejection is a
// [*VerifyError] whose Reason a caller can switch on and whose message
// names the fact that failed, never the token.
//
// It differs from cloud.google.com/go/auth/credentials/idtoken, whose
// Validator does not check the issuer, panics on a short ES256 signature and
// cannot be pointed at another key URL by its package-level Validate: here
// every URL is an option, so tests and the fakegoogle package can stand in
// for Google.
//
// Keys are parsed with go-jose (JWK/JWKS). The compact JWS itself is
// checked with the standard library's crypto over the exact bytes
// received: three canonical base64url segments, a header with alg and kid,
// and a signature whose algorithm must be allowed and must fit the key's
// type (an RS256 token cannot name an EC key, an ES256 signature must be
// exactly 64 bytes). That keeps verification within 1.3× of the bare RSA
// check (see BenchmarkVerify) and never re-encodes what was signed. A
// Verifier remembers the tokens it accepted (Options.CacheSize), since
// callers send the same ID token for up to an hour: verifying one again
// costs a hash and a lookup, about a microsecond, while its expiry and its
// key's presence in the key set are still checked on every call.
//
// [Middleware] protects an http.Handler the way Cloud Run's IAM check does:
// it reads the token from X-Serverless-Authorization or Authorization,
// answers 401 or 403 itself, and hands the verified [Claims] to the handler
// through the request context.
package idtoken
