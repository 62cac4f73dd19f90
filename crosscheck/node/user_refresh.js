// authorized_user refresh token -> access token (+ ID token) -> tokeninfo,
// with google-auth-library's OAuth2Client.
//
// Input (stdin): {"base", "client_id", "client_secret", "refresh_token"}.
// Output: {"token", "expiry_date", "id_token", "scope", "tokeninfo"}.
//
// OAuth2Client's `endpoints` option points every URL it uses at the fake;
// the library is not modified.
'use strict';

const {OAuth2Client} = require('google-auth-library');
const peer = require('./peer');

peer.run(async () => {
  const p = peer.params();
  const client = new OAuth2Client({
    clientId: p.client_id,
    clientSecret: p.client_secret,
    endpoints: {
      oauth2TokenUrl: p.base + '/token',
      oauth2FederatedSignonPemCertsUrl: p.base + '/oauth2/v1/certs',
      tokenInfoUrl: p.base + '/tokeninfo',
    },
  });
  peer.guardTransport(client, p.base);
  client.setCredentials({refresh_token: p.refresh_token});

  const {token} = await client.getAccessToken();
  // getTokenInfo sends the token as "Authorization: Bearer" in an empty POST.
  const info = await client.getTokenInfo(token);

  peer.emit({
    token,
    expiry_date: client.credentials.expiry_date,
    id_token: client.credentials.id_token,
    scope: client.credentials.scope,
    tokeninfo: info,
  });
});
