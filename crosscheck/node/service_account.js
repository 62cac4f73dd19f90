// Service-account key -> access token, tokeninfo and ID token, with
// google-auth-library's JWT client (what GoogleAuth builds for a
// service_account file).
//
// Input (stdin): {"base", "key_file", "scopes", "audience"}.
// Output: {"token", "expiry_date", "tokeninfo", "id_token", "redirects"}.
//
// The library ignores the key file's token_uri: its gtoken module posts the
// jwt-bearer grant to the hard-coded https://oauth2.googleapis.com/token
// (and uses it as the assertion aud). The client's `transporter` is a public
// gaxios instance, and gaxios request interceptors are its documented hook
// for rewriting a request, so one interceptor sends that URL to the fake.
// The library is not patched; what it builds (the assertion, the form, the
// aud) is exactly what it would send to Google. The interceptor also refuses
// every other non-fake URL, and the redirects it made are reported so the
// Go test can check the library really asked for Google's URL.
'use strict';

const fs = require('node:fs');
const {JWT} = require('google-auth-library');
const peer = require('./peer');

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

peer.run(async () => {
  const p = peer.params();
  const key = JSON.parse(fs.readFileSync(p.key_file, 'utf8'));
  const client = new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    scopes: p.scopes,
    endpoints: {tokenInfoUrl: p.base + '/tokeninfo'},
  });
  const redirects = peer.guardTransport(client, p.base, {[GOOGLE_TOKEN_URL]: p.base + '/token'});

  const creds = await client.authorize();
  const info = await client.getTokenInfo(creds.access_token);

  // fetchIdToken builds its own gtoken but passes the same transporter, so
  // the same interceptor applies.
  const idToken = await client.fetchIdToken(p.audience);

  peer.emit({
    token: creds.access_token,
    expiry_date: creds.expiry_date,
    tokeninfo: info,
    id_token: idToken,
    redirects,
  });
});
