// A "pod" for kubeidentity's tests: Google's Node client
// (google-auth-library, as pinned in crosscheck/node) reading its
// credentials from the metadata server, with every TCP connection it makes
// coming from the pod's address.
//
// Input (stdin): {"source": "127.0.0.2", "audience": "https://…" or ""}.
// Output: {"source", "client", "email", "token", "id_token",
// "id_token_error", "error"}.
//
// The process stands for a pod in its own network namespace: before
// google-auth-library is loaded, net.Socket.prototype.connect gives every
// TCP connection without a localAddress the pod's address, so the metadata
// server sees that source address. The library is unmodified: GoogleAuth
// detects the metadata server (GCE_METADATA_HOST), getClient() is a Compute
// client, getAccessToken() reads service-accounts/default/token,
// getCredentials() the default account's email, and with an audience
// getIdTokenClient(audience) fetches an ID token. Failures are reported,
// not thrown, so the Go test can check refusals too.
'use strict';

const fs = require('node:fs');
const net = require('node:net');

const params = JSON.parse(fs.readFileSync(0, 'utf8'));

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let options = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof options === 'number' || typeof options === 'string') {
    options = {port: args[0], host: typeof args[1] === 'string' ? args[1] : undefined};
    args = [options, ...args.slice(typeof args[1] === 'string' ? 2 : 1)];
  }
  if (options && typeof options === 'object' && options.port !== undefined && !options.path && !options.localAddress) {
    options.localAddress = params.source;
  }
  return connect.apply(this, args);
};

const {GoogleAuth} = require('google-auth-library');

function describe(err) {
  const body = err && err.response && err.response.data;
  return `${err && err.message ? err.message : err}${body !== undefined ? ' | body: ' + JSON.stringify(body) : ''}`;
}

async function main() {
  const out = {source: params.source, google_auth_library_version: require('google-auth-library/package.json').version};
  const auth = new GoogleAuth();
  try {
    const client = await auth.getClient();
    out.client = client.constructor.name;
    out.token = await auth.getAccessToken();
    out.email = (await auth.getCredentials()).client_email;
  } catch (err) {
    out.error = describe(err);
  }
  if (params.audience && out.error === undefined) {
    try {
      const idClient = await auth.getIdTokenClient(params.audience);
      out.id_token = await idClient.idTokenProvider.fetchIdToken(params.audience);
    } catch (err) {
      out.id_token_error = describe(err);
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
