// Package console is the emulator's web console: a browser's view of the
// fake Google (package fakegoogle) while programs use it, for the question
// every failed authentication raises: what did the program send, and what
// did Google say?
//
// A Console is an http.Handler served beside the fake, on the same address,
// under a path no Google endpoint uses (DefaultPath). Its pages are
// rendered on the server with html/template and work without JavaScript;
// one small script adds live updates. They show:
//
//   - Requests: a live, filterable timeline of every request the fake
//     answered (endpoint, client and user agent, grant type, principal,
//     scopes or audience, status, Google's error), each with its request
//     and response, every JWT in them decoded (header, claims, expiry in
//     words, whether the fake's keys and clock accept it) and a verdict.
//     The timeline is a ring of the last Options.Capacity exchanges.
//   - Identities and IAM: service accounts, users, identity pools, Token
//     Creator grants, domain-wide delegation, lifetime extensions, editable;
//     edits are saved with the fake's state (Options.SaveState).
//   - Tokens: the access and refresh tokens the fake honours, to revoke;
//     minting an ID token; a decoder for a pasted token, which decodes it
//     on the server (in the emulator, on the user's machine) and neither
//     logs nor keeps it.
//   - Faults and clock: fault rules in the grammar of the emulator's
//     --fault flag (fakegoogle.ParseFault) and the clock skew.
//
// Secrets never reach a page whole: the console masks each exchange as it
// records it (tokens, refresh tokens, client secrets, assertions, AWS
// signatures, private keys) and keeps only fingerprints.
//
// The console edits who may impersonate whom, so it answers only its
// user's browser: clients with a loopback source address (even when the
// emulator listens on another), requests no browser marks as sent by
// another site, and forms that carry the session's CSRF token; its pages
// refuse to be framed. Mount it inside the emulator's host check
// (internal/hostcheck), as the emulator does, against DNS rebinding.
package console
