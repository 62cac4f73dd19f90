// Package dockercred is a docker credential helper
// (https://github.com/docker/docker-credential-helpers) that mints Google
// access tokens: docker runs docker-credential-<name> with an action (get,
// store, erase, list, version), passes the registry's server URL on stdin and
// reads the username and secret as JSON from stdout.
//
// [Helper] answers get for Google's registries (gcr.io, *.gcr.io,
// *-docker.pkg.dev, docker.*.rep.pkg.dev) and for hosts its caller allows,
// with the username "oauth2accesstoken" and an access token as the secret.
// It mints tokens, so it stores nothing: store succeeds without effect
// (docker calls it on login), like Google's own docker-credential-gcr, and
// erase (docker logout) only tells a token cache to forget its token
// ([Helper].Erase). Hosts it does not serve get the protocol's
// "credentials not found" answer, so docker falls back to anonymous access.
//
// Setting docker up to use the helper lives here too: the [HelperConfig]
// interface maps registries to the helper in docker's credHelpers,
// implemented by [ConfigFile] (config.json, merged, with a .bak, written
// atomically with mode 0600) and by [FakeHelperConfig] for tests of code
// that configures docker; [CheckInstalled] says whether docker can find the
// helper program.
//
// Stdin parsing and the JSON encoding are docker-credential-helpers' own
// (its credentials package); this package supplies the Google side.
package dockercred
