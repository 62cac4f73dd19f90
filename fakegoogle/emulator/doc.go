// Package emulator is a local fake of Google for offline development and
// tests, as a daemon: the library type behind `gcptoken emulator`. It
// composes
//
//   - a fakegoogle.Server (Google's OAuth 2.0 and OpenID Connect endpoints,
//     IAM Credentials, STS, fake AWS instance metadata and a protected
//     sample service) on Options.Listen;
//   - optionally a GCE metadata server for the fake service account
//     (metadataserver, answering ID-token requests with tokens the fake mints
//     in Compute Engine's shape) on Options.MetadataListen;
//   - optionally an HTTPS proxy serving the fake under Google's real host
//     names (fakegoogle/googlehosts, with a local CA) on
//     Options.HTTPSProxyListen, for programs that cannot be pointed
//     elsewhere;
//   - unless Options.DisableConsole, the web console (fakegoogle/console)
//     on the fake's address under console.DefaultPath (Info.ConsoleURL),
//     for loopback clients: every request the fake answers, its
//     identities, IAM grants, tokens, faults and clock, editable;
//
// and a state directory (Options.StateDir), written 0600 in a 0700
// directory:
//
//   - state.json: the fake's keys, identities and IAM grants, loaded by New
//     and saved by New and when Serve returns, so that a restart keeps the
//     files valid;
//   - service-account.json and authorized-user.json: credentials of the
//     fake's default service account and user;
//   - external-account-aws.json, external-account-oidc.json and
//     oidc-token.jwt: workload identity federation without a Google key;
//   - env.sh: the exports that point gcptoken, gcloud and Google's client
//     libraries at the emulator;
//   - ca.pem and ca-key.pem, the HTTPS proxy's CA (or in Options.CADir).
//
// New checks the options, loads the state, applies the IAM changes and
// faults, binds the listeners and writes the files, so that the files name
// the bound addresses and are ready when New returns; Serve serves until its
// context ends, then shuts down and saves the state. The command only turns
// flags into Options and prints Info: the shape of cloud-sql-proxy's
// internal/proxy and of tailscale's tsnet.
//
// Web pages are kept out (internal/hostcheck): the fake and the metadata
// server answer only requests addressed to an IP address, localhost, their
// listen host or one of Options.AllowedHosts; others get 421.
package emulator
