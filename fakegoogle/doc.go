// Package fakegoogle is an in-process fake of Google's OAuth 2.0 and OpenID
// Connect endpoints, for tests and offline use only. It is not secure and
// must never stand in for Google in production.
//
// A Server is one http.Handler that answers, under a single base URL, the
// paths Google serves on several hosts:
//
//   - the token endpoint (/token, and the legacy /o/oauth2/token and
//     /oauth2/v4/token) for the jwt-bearer grant (service-account keys, both
//     access tokens and ID tokens via target_audience) and the refresh_token
//     grant (authorized_user credentials);
//   - /revoke, and tokeninfo (/tokeninfo, /oauth2/v3/tokeninfo, the legacy
//     /oauth2/v2/tokeninfo);
//   - the signing keys (/oauth2/v3/certs as JWKS, /oauth2/v1/certs as PEM
//     certificates), service-account public keys
//     (/robot/v1/metadata/x509/{email}, /service_accounts/v1/metadata/...)
//     and /.well-known/openid-configuration;
//   - the IAM Credentials API
//     (/v1/projects/-/serviceAccounts/{email}:generateAccessToken,
//     :generateIdToken, :signJwt, :signBlob; base URL IAMCredentialsURL),
//     authenticated by the fake's own access tokens (or self-signed JWTs),
//     and the same four
//     methods over gRPC (/google.iam.credentials.v1.IAMCredentials/…, over
//     HTTP/2, as Google's generated Go client calls them);
//   - STS's token exchange (/v1/token, base STSURL; form or JSON body) for
//     downscoping one of
//     the fake's access tokens with a Credential Access Boundary; tokeninfo
//     reports the boundary in the fake-only field "access_boundary";
//     and workload identity federation: AWS and OIDC subject tokens,
//     verified against a fake AWS account (SigV4 recomputed) and a fake
//     OIDC identity provider (/fakeidp), for identity pools and providers
//     (AddIdentityProvider), plus workforce refresh at /v1/oauthtoken,
//     token introspection at /v1/introspect and a fake AWS
//     instance-metadata service under /latest/ (federation.go);
//   - userinfo (/v1/userinfo of openidconnect.googleapis.com, and
//     /oauth2/v3/userinfo, /oauth2/v2/userinfo, /oauth2/v1/userinfo), the
//     legacy /oauth2/v1/tokeninfo, and the device authorization grant
//     (/device/code, the device_code grant, the approval page /device and
//     ApproveDeviceCode; device.go);
//   - Cloud Resource Manager's projects.get (/v1/projects/{id},
//     /v3/projects/{id}; AddProject; crm.go), which external_account
//     credentials use to find their project id;
//   - the keys of Firebase's securetoken@system.gserviceaccount.com
//     (MintFirebaseIDToken) and a fake Identity-Aware Proxy: IAP's ES256
//     keys (/iap/verify/public_key and -jwk, www.gstatic.com), IAP to guard a
//     handler with a signed x-goog-iap-jwt-assertion, and the sample service
//     behind it at /iap/sample/get_range (iap.go);
//   - /sample/get_range, a protected service that, like a private Cloud Run
//     service, accepts only ID tokens for its own URL.
//
// Requests are validated the way Google validates them, with Google's error
// codes and texts where they are known, so a client that works against the
// fake has a good chance of working against Google. Scopes no Google API has
// get invalid_scope (KnownScope, AllowScopes). Anything the fake does not
// model is answered with Google's HTML 404 page and a warning in the log,
// never with a guess; NotServed lists the Google URLs clients name that the
// fake deliberately leaves out, and why.
//
// The fake stands for Google's public universe, googleapis.com, unless
// Options.UniverseDomain names another (universe.go): its credential files
// then carry that universe_domain, its token endpoint refuses
// service-account assertions (keys sign their own JWTs there), and its
// APIs check self-signed JWTs' audiences against that universe's service
// names. The APIs accept service accounts' self-signed JWTs in every
// universe.
//
// The fake keeps a registry of service accounts (each with an RSA key),
// users, OAuth clients and refresh tokens, and writes credential files
// (ServiceAccountKeyJSON, AuthorizedUserJSON, ImpersonatedServiceAccountJSON)
// whose URLs point at itself. A small IAM model decides impersonation and
// delegation: the Token Creator role on a service account
// (GrantTokenCreator), the org policy that allows access tokens of up to 12
// hours (AllowLifetimeExtension), and the Workspace domain-wide delegation
// allow-list for jwt-bearer assertions with a sub
// (AllowDomainWideDelegation). MarshalState and LoadState keep all of it
// across restarts.
//
// Typical use in a test:
//
//	fake, err := fakegoogle.Start("127.0.0.1:0", nil)
//	if err != nil { t.Fatal(err) }
//	defer fake.Close()
//	keyJSON, _ := fake.ServiceAccountKeyJSON(fakegoogle.DefaultServiceAccount)
//	// hand keyJSON to the code under test; its token_uri is fake.URL+"/token".
//
// or mount the handler yourself with httptest.NewServer(s) followed by
// s.SetBaseURL(ts.URL).
//
// Observe hands every request the fake answers, with its answer, to a
// function (the emulator's console, package fakegoogle/console, shows them);
// ServiceAccounts, IAMPolicy, IssuedTokens, LookupToken, JWTSigner and
// Faults read the state that the other methods change.
//
// MintComputeIDToken mints the ID tokens a Compute Engine VM's metadata
// server returns (format standard or full, with licenses), for a metadata
// server that emulates a VM of the fake.
//
// For tests of services, MintIDToken makes a caller's ID token without a
// credential and CertsURL names the keys it verifies with. Package
// fakegoogletest adds what needs gcptoken's client packages, which this
// package never imports: a Verifier that trusts the fake, and SetADC,
// which points a test's environment (Application Default Credentials and
// GCPTOKEN_EMULATOR_HOST) at the fake.
//
// Issued ID tokens carry iss "https://accounts.google.com" like Google's, but
// are signed by the fake's own keys, so only verifiers pointed at the fake's
// certificate URLs accept them.
package fakegoogle
