// Application Default Credentials on "GCE" -> access token, project id and
// ID token, with google-auth-library's GoogleAuth.
//
// Input (stdin): {"mds_base", "audience"}.
// Output: {"client", "token", "expiry_date", "project_id", "id_token"}.
//
// Nothing is configured in code: GoogleAuth finds no
// GOOGLE_APPLICATION_CREDENTIALS and no gcloud ADC file (HOME is empty), so it
// asks gcp-metadata whether a metadata server is there. GCE_METADATA_IP and
// GCE_METADATA_HOST both name gcptoken's metadata server on 127.0.0.1, and
// METADATA_SERVER_DETECTION is unset, so detection really pings it
// (GET /computeMetadata/v1/instance). Then:
//   getClient()         -> a Compute client;
//   getAccessToken()    -> instance/service-accounts/default/token;
//   getProjectId()      -> after `gcloud config config-helper` (which finds no
//                          project: its own metadata root points at a closed
//                          port), project/project-id;
//   getIdTokenClient(a) -> the same Compute client as the idTokenProvider;
//                          fetchIdToken(a) reads
//                          instance/service-accounts/default/identity?format=full&audience=<a, not URL-encoded>.
//
// gcp-metadata sends its requests with gaxios' default instance, not a
// client's transporter, so the guard is an interceptor on that instance: any
// URL outside the metadata server fails the script instead of leaving the
// machine.
'use strict';

const {GoogleAuth, gaxios} = require('google-auth-library');
const peer = require('./peer');

peer.run(async () => {
  const p = peer.params();
  const refuseOutside = {
    resolved: async (opts) => {
      const url = opts.url.toString();
      if (!url.startsWith(p.mds_base + '/')) {
        throw new Error(`crosscheck: refusing request to ${url}: only the metadata server at ${p.mds_base} may be called`);
      }
      return opts;
    },
  };
  gaxios.instance.interceptors.request.add(refuseOutside);

  const auth = new GoogleAuth();
  const client = await auth.getClient();
  client.transporter.interceptors.request.add(refuseOutside);

  // GoogleAuth.getAccessToken() resolves to the token string itself.
  const token = await auth.getAccessToken();
  const projectId = await auth.getProjectId();
  const idClient = await auth.getIdTokenClient(p.audience);
  const idToken = await idClient.idTokenProvider.fetchIdToken(p.audience);

  peer.emit({
    client: client.constructor.name,
    token,
    expiry_date: client.credentials.expiry_date,
    project_id: projectId,
    id_token: idToken,
  });
});
