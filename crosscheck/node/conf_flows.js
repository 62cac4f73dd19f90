// Conformance flows for google-auth-library, unmodified, against the fake
// under Google's real host names.
//
// Usage: node conf_flows.js FLOW < params.json. Prints one JSON object.
//
// Unlike the other Node scripts, nothing here intercepts a request: the
// credential files carry Google's URLs, and the environment (HTTPS_PROXY,
// HTTP_PROXY, NODE_EXTRA_CA_CERTS) sends gaxios through gcptoken's
// intercepting proxy, so the URLs the library hard-codes (the
// service-account token URL, IAM Credentials, STS, the certificate URL, the
// metadata server) are used as they would be against Google.
//
// Params: {key_file, user_file, imp_file, ext_file, ext_aws_file, target,
// audience, scopes,
// lifetime, id_token, id_token_audience, access_token}.
'use strict';

const {GoogleAuth, Impersonated, DownscopedClient, OAuth2Client} = require('google-auth-library');
const peer = require('./peer');

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

async function source(p) {
  return new GoogleAuth({keyFile: p.key_file, scopes: [CLOUD_PLATFORM]}).getClient();
}

async function tokenOf(client) {
  const {token} = await client.getAccessToken();
  return {token, expiry_date: client.credentials && client.credentials.expiry_date};
}

// externalAccount loads an external_account file as GoogleAuth does, gets
// a token and the project id (which Node asks Resource Manager for).
async function externalAccount(file) {
  const auth = new GoogleAuth({keyFile: file, scopes: [CLOUD_PLATFORM]});
  const out = await tokenOf(await auth.getClient());
  out.project = await auth.getProjectId();
  return out;
}

const flows = {
  async sa_access(p) {
    return tokenOf(await source(p));
  },
  async sa_id(p) {
    const client = await new GoogleAuth({keyFile: p.key_file}).getIdTokenClient(p.audience);
    return {token: await client.idTokenProvider.fetchIdToken(p.audience)};
  },
  async user_refresh(p) {
    const client = await new GoogleAuth({keyFile: p.user_file, scopes: [CLOUD_PLATFORM]}).getClient();
    const out = await tokenOf(client);
    out.id_token = client.credentials.id_token;
    out.client = client.constructor.name;
    return out;
  },
  async imp_access(p) {
    const imp = new Impersonated({
      sourceClient: await source(p), targetPrincipal: p.target, targetScopes: p.scopes,
      lifetime: p.lifetime, delegates: [],
    });
    const out = await tokenOf(imp);
    // The impersonated_service_account file, as gcloud writes it.
    const fromFile = await new GoogleAuth({keyFile: p.imp_file, scopes: p.scopes}).getClient();
    out.file_token = (await fromFile.getAccessToken()).token;
    return out;
  },
  async imp_id(p) {
    const imp = new Impersonated({
      sourceClient: await source(p), targetPrincipal: p.target, targetScopes: p.scopes,
      lifetime: p.lifetime, delegates: [],
    });
    return {token: await imp.fetchIdToken(p.audience, {includeEmail: true})};
  },
  async downscope(p) {
    const client = new DownscopedClient({
      authClient: await source(p),
      credentialAccessBoundary: {accessBoundary: {accessBoundaryRules: [{
        availableResource: '//storage.googleapis.com/projects/_/buckets/conformance-bucket',
        availablePermissions: ['inRole:roles/storage.objectViewer'],
      }]}},
    });
    return tokenOf(client);
  },
  async tokeninfo(p) {
    return {tokeninfo: await new OAuth2Client().getTokenInfo(p.access_token)};
  },
  async verify(p) {
    const ticket = await new OAuth2Client().verifyIdToken({idToken: p.id_token, audience: p.id_token_audience});
    return {claims: ticket.getPayload()};
  },
  async ext_file(p) {
    return externalAccount(p.ext_file);
  },
  async ext_aws(p) {
    return externalAccount(p.ext_aws_file);
  },
  async ext_project() {
    // GOOGLE_APPLICATION_CREDENTIALS names the external_account file and
    // GOOGLE_CLOUD_PROJECT is unset: the project can only come from
    // cloudresourcemanager.googleapis.com.
    const auth = new GoogleAuth({scopes: [CLOUD_PLATFORM]});
    const out = await tokenOf(await auth.getClient());
    out.project = await auth.getProjectId();
    return out;
  },
  async mds_token() {
    const client = await new GoogleAuth({scopes: [CLOUD_PLATFORM]}).getClient();
    const out = await tokenOf(client);
    out.client = client.constructor.name;
    return out;
  },
  async mds_id(p) {
    const client = await new GoogleAuth().getIdTokenClient(p.audience);
    return {token: await client.idTokenProvider.fetchIdToken(p.audience)};
  },
  async mds_project() {
    return {project: await new GoogleAuth().getProjectId()};
  },
};

peer.run(async () => {
  const flow = flows[process.argv[2]];
  if (!flow) {
    throw new Error(`unknown flow ${process.argv[2]}`);
  }
  peer.emit(await flow(peer.params()));
});
