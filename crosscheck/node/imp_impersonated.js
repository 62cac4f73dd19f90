// Impersonated access and ID tokens, with google-auth-library's
// Impersonated client.
//
// Input (stdin): {"base", "key_file", "source_scopes", "cases": [
//   {"name", "target", "delegates", "scopes", "lifetime", "audience",
//    "expect_error"}]}.
// Output: {"cases": {name: {"token", "expiry_date", "id_token"} or
//   {"error", "status"}}, "redirects"}.
//
// The source client is a JWT for the fake's key; its grant reaches the fake
// through the same gaxios interceptor as service_account.js (the library
// posts to the hard-coded https://oauth2.googleapis.com/token). Impersonated
// is given `endpoint: base`, its documented option for the IAM Credentials
// base URL; it appends /v1/projects/-/serviceAccounts/<target>:<method> and
// sends generateAccessToken and generateIdToken through the source client
// (so with its Bearer token). fetchIdToken(aud, {includeEmail: true}) uses
// the same endpoint. The interceptor refuses every URL outside base.
//
// A case with expect_error reports the error instead of failing.
'use strict';

const fs = require('node:fs');
const {JWT, Impersonated} = require('google-auth-library');
const peer = require('./peer');

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

peer.run(async () => {
  const p = peer.params();
  const key = JSON.parse(fs.readFileSync(p.key_file, 'utf8'));
  const source = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes: p.source_scopes,
  });
  const redirects = peer.guardTransport(source, p.base, {[GOOGLE_TOKEN_URL]: p.base + '/token'});

  const cases = {};
  for (const c of p.cases) {
    const imp = new Impersonated({
      sourceClient: source,
      targetPrincipal: c.target,
      targetScopes: c.scopes,
      delegates: c.delegates,
      lifetime: c.lifetime,
      endpoint: p.base,
    });
    // Impersonated sends through the source client; guard its own
    // transporter too, in case a path used it.
    peer.guardTransport(imp, p.base, {}, redirects);
    if (c.expect_error) {
      try {
        await imp.getAccessToken();
        cases[c.name] = {token: imp.credentials.access_token};
      } catch (err) {
        cases[c.name] = {error: String(err && err.message), status: err && err.response && err.response.status};
      }
      continue;
    }
    const {token} = await imp.getAccessToken();
    const out = {token, expiry_date: imp.credentials.expiry_date};
    if (c.audience) {
      out.id_token = await imp.fetchIdToken(c.audience, {includeEmail: true});
    }
    cases[c.name] = out;
  }
  peer.emit({cases, redirects});
});
