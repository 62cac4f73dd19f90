// Package jwtinfo decodes a JWT offline so `gcptoken info` can show what a
// token claims: its header, claims, expiry and audience.
//
// Decoding is not verification. Nothing here checks the signature, the
// issuer, the audience or the expiry against anything; a decoded token may
// be forged. Use the idtoken package's Verifier to decide whether to trust
// a token, and this package only to look at one.
package jwtinfo
