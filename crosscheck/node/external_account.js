// External account (workload identity federation) tokens, with
// google-auth-library's ExternalAccountClient.
//
// Input (stdin): {"base", "cases": [{"name", "file", "scopes"}]}; the AWS_*
// variables of the AWS cases come from the environment the Go test sets.
// Output: {"cases": {name: {"token", "expiry_date", "class"}}, "redirects"}.
//
// ExternalAccountClient.fromJSON picks AwsClient or IdentityPoolClient from
// the file and honours its token_url, credential_source URLs and
// service_account_impersonation_url. The interceptor refuses every URL
// outside the fake.
'use strict';

const fs = require('node:fs');
const {ExternalAccountClient, ExternalAccountAuthorizedUserClient} = require('google-auth-library');
const peer = require('./peer');

peer.run(async () => {
  const p = peer.params();
  const cases = {};
  const redirects = [];
  for (const c of p.cases) {
    const json = JSON.parse(fs.readFileSync(c.file, 'utf8'));
    // A workforce user's file has a client of its own; it refreshes at the
    // file's token_url (STS /v1/oauthtoken) with the sign-in's scopes.
    const client = json.type === 'external_account_authorized_user'
      ? new ExternalAccountAuthorizedUserClient(json)
      : ExternalAccountClient.fromJSON({...json, scopes: c.scopes});
    peer.guardTransport(client, p.base, {}, redirects);
    const {token} = await client.getAccessToken();
    // ExternalAccountAuthorizedUserClient keeps its expiry with the cached
    // token, not in client.credentials.
    const expiry = client.cachedAccessToken ? client.cachedAccessToken.expiry_date : client.credentials.expiry_date;
    cases[c.name] = {token, expiry_date: expiry, class: client.constructor.name};
  }
  peer.emit({cases, redirects});
});
