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

// get sends an authorized GET and reports the answer, whatever its status.
async function get(client, url) {
  const res = await client.request({url, responseType: 'text', validateStatus: () => true});
  return {status: res.status, content_type: res.headers.get ? res.headers.get('content-type') : res.headers['content-type'],
    body: typeof res.data === 'string' ? res.data : JSON.stringify(res.data)};
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
  async userinfo(p) {
    // What an app does with a user's credentials: follow the discovery
    // document to userinfo_endpoint, with the client's request().
    const client = await new GoogleAuth({keyFile: p.user_file}).getClient();
    const doc = (await client.request({url: 'https://accounts.google.com/.well-known/openid-configuration'})).data;
    const out = await get(client, doc.userinfo_endpoint);
    out.client = doc.userinfo_endpoint;
    return out;
  },
  async tokeninfo_v1(p) {
    return get(await source(p), p.url);
  },
  async not_found(p) {
    return get(await source(p), p.url);
  },
  async sa_keys(p) {
    // A receiver of signJwt output: the signer's x509 certificates, then
    // verifySignedJwtWithCertsAsync.
    const client = new OAuth2Client();
    const certs = (await client.transporter.request({
      url: 'https://www.googleapis.com/service_accounts/v1/metadata/x509/' + encodeURIComponent(p.target)})).data;
    const ticket = await client.verifySignedJwtWithCertsAsync(p.signed_jwt, certs, p.jwt_audience, [p.target]);
    return {claims: ticket.getPayload()};
  },
  async firebase(p) {
    // What Firebase's Admin SDK does: securetoken@system.gserviceaccount.com's
    // certificates, then the signature and claims.
    const client = new OAuth2Client();
    const certs = (await client.transporter.request({
      url: 'https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com'})).data;
    const ticket = await client.verifySignedJwtWithCertsAsync(p.firebase_token, certs, p.firebase_project,
        ['https://securetoken.google.com/' + p.firebase_project]);
    return {claims: ticket.getPayload()};
  },
  async iap(p) {
    // Google's documented IAP check for Node.
    const client = new OAuth2Client();
    const {pubkeys} = await client.getIapPublicKeys();
    const ticket = await client.verifySignedJwtWithCertsAsync(p.iap_assertion, pubkeys, p.iap_audience,
        ['https://cloud.google.com/iap']);
    return {claims: ticket.getPayload()};
  },
  async invalid_scope(p) {
    const client = await new GoogleAuth({keyFile: p.key_file, scopes: [p.bogus_scope]}).getClient();
    try {
      await client.getAccessToken();
    } catch (e) {
      return {error: String(e && e.message) + ' ' + JSON.stringify(e.response && e.response.data)};
    }
    throw new Error('the token request succeeded; want Google\'s invalid_scope');
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
  async mds_tree() {
    // gcp-metadata: google-auth-library's own metadata client (a
    // dependency of it, not of this package).
    const gcp = require('gcp-metadata');
    const results = {};
    for (const [k, path] of Object.entries({
      instance_id: 'id', name: 'name', hostname: 'hostname', internal_ip: 'network-interfaces/0/ip',
      external_ip: 'network-interfaces/0/access-configs/0/external-ip', machine_type: 'machine-type',
    })) {
      results[k] = String(await gcp.instance(path));
    }
    results.zone = String(await gcp.instance('zone')).split('/').pop();
    results.project_id = String(await gcp.project('project-id'));
    results.numeric_project_id = String(await gcp.project('numeric-project-id'));
    results.tags = JSON.stringify(await gcp.instance('tags'));
    return {results, recursive: await gcp.instance({params: {recursive: 'true'}})};
  },
};

peer.run(async () => {
  const flow = flows[process.argv[2]];
  if (!flow) {
    throw new Error(`unknown flow ${process.argv[2]}`);
  }
  peer.emit(await flow(peer.params()));
});
