// Verifies ID tokens with google-auth-library's OAuth2Client.verifyIdToken
// against the fake's PEM certificates (/oauth2/v1/certs, the format Node
// uses; the JWKS URL is only used in browsers).
//
// Input (stdin): {"base", "tokens": [{"name", "id_token", "audience"}, ...]}.
// Output: {"verified": {name: payload}, "cert_fetches": n}.
'use strict';

const {OAuth2Client} = require('google-auth-library');
const peer = require('./peer');

peer.run(async () => {
  const p = peer.params();
  const client = new OAuth2Client({
    endpoints: {oauth2FederatedSignonPemCertsUrl: p.base + '/oauth2/v1/certs'},
  });
  let certFetches = 0;
  client.transporter.interceptors.request.add({
    resolved: async (opts) => {
      certFetches++;
      return opts;
    },
  });
  peer.guardTransport(client, p.base);

  const verified = {};
  for (const t of p.tokens) {
    const ticket = await client.verifyIdToken({idToken: t.id_token, audience: t.audience});
    verified[t.name] = ticket.getPayload();
  }
  // The fake sends Cache-Control: max-age, so the library should fetch once.
  peer.emit({verified, cert_fetches: certFetches});
});
