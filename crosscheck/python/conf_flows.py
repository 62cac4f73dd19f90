"""Conformance flows for google-auth, unmodified, against the fake under
Google's real host names.

Usage: conf_flows.py FLOW < params.json. Prints one JSON object.

Nothing here names the fake: the credential files carry Google's URLs, and
the environment (HTTPS_PROXY, HTTP_PROXY, REQUESTS_CA_BUNDLE) sends
google-auth's requests transport through gcptoken's intercepting proxy. So
every URL google-auth hard-codes (the authorized_user token URL, the IAM
Credentials and STS hosts, verify_oauth2_token's certificate URL, the
metadata server's address) is exercised as it would be against Google.

Params: {"key_file", "user_file", "imp_file", "ext_file", "ext_aws_file",
"target", "audience",
"scopes", "lifetime", "id_token", "id_token_audience", "access_token"}.
"""

import json
import sys

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
from google.auth import compute_engine
from google.auth import downscoped
from google.auth import impersonated_credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import id_token
from google.oauth2 import service_account

import _peer

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def token_of(creds, req):
    creds.refresh(req)
    return {"token": creds.token, "expiry": _peer.rfc3339(creds.expiry)}


def sa_access(p, req):
    creds = service_account.Credentials.from_service_account_file(p["key_file"], scopes=[CLOUD_PLATFORM])
    return token_of(creds, req)


def sa_id(p, req):
    creds = service_account.IDTokenCredentials.from_service_account_file(
        p["key_file"], target_audience=p["audience"])
    return token_of(creds, req)


def user_refresh(p, req):
    # The file's own loader: it forces https://oauth2.googleapis.com/token.
    creds = user_credentials.Credentials.from_authorized_user_file(p["user_file"])
    out = token_of(creds, req)
    out["id_token"] = creds.id_token
    return out


def source(p):
    return service_account.Credentials.from_service_account_file(p["key_file"], scopes=[CLOUD_PLATFORM])


def imp_access(p, req):
    creds = impersonated_credentials.Credentials(
        source_credentials=source(p), target_principal=p["target"],
        target_scopes=p["scopes"], lifetime=p["lifetime"])
    out = token_of(creds, req)
    # The impersonated_service_account file, as gcloud writes it.
    from_file, _ = google.auth.load_credentials_from_file(p["imp_file"], scopes=p["scopes"])
    out["file_token"] = token_of(from_file, req)["token"]
    return out


def imp_id(p, req):
    target = impersonated_credentials.Credentials(
        source_credentials=source(p), target_principal=p["target"],
        target_scopes=p["scopes"], lifetime=p["lifetime"])
    creds = impersonated_credentials.IDTokenCredentials(
        target, target_audience=p["audience"], include_email=True)
    return token_of(creds, req)


def downscope(p, req):
    rule = downscoped.AccessBoundaryRule(
        available_resource="//storage.googleapis.com/projects/_/buckets/conformance-bucket",
        available_permissions=["inRole:roles/storage.objectViewer"])
    creds = downscoped.Credentials(
        source_credentials=source(p),
        credential_access_boundary=downscoped.CredentialAccessBoundary(rules=[rule]))
    return token_of(creds, req)


def tokeninfo(p, req):
    # google-auth has no tokeninfo call; its own system tests GET it with
    # an AuthorizedSession, which is what this does.
    session = google.auth.transport.requests.AuthorizedSession(source(p))
    resp = session.get("https://oauth2.googleapis.com/tokeninfo",
                       params={"access_token": p["access_token"]}, timeout=_peer.TIMEOUT_SECONDS)
    resp.raise_for_status()
    return {"tokeninfo": resp.json()}


def verify(p, req):
    # verify_oauth2_token fixes the certificate URL to Google's.
    claims = id_token.verify_oauth2_token(p["id_token"], req, audience=p["id_token_audience"])
    return {"claims": claims}


def mds_token(p, req):
    creds = compute_engine.Credentials()
    out = token_of(creds, req)
    out["email"] = creds.service_account_email
    return out


def mds_id(p, req):
    # No GOOGLE_APPLICATION_CREDENTIALS: fetch_id_token falls back to the
    # metadata server.
    return {"token": id_token.fetch_id_token(req, p["audience"])}


def mds_project(p, req):
    creds, project = google.auth.default(scopes=[CLOUD_PLATFORM])
    return {"project": project, "credentials": type(creds).__module__ + "." + type(creds).__name__}


def mds_tree(p, req):
    # google-auth's own metadata client, which compute_engine uses.
    from google.auth.compute_engine import _metadata

    def get(path):
        return _metadata.get(req, path)

    results = {k: get(path) for k, path in {
        "instance_id": "instance/id", "name": "instance/name", "hostname": "instance/hostname",
        "internal_ip": "instance/network-interfaces/0/ip",
        "external_ip": "instance/network-interfaces/0/access-configs/0/external-ip",
        "machine_type": "instance/machine-type", "numeric_project_id": "project/numeric-project-id"}.items()}
    results["zone"] = get("instance/zone").rsplit("/", 1)[-1]
    results["project_id"] = _metadata.get_project_id(req)
    results["tags"] = json.dumps(json.loads(get("instance/tags")), separators=(",", ":"))
    return {"results": results, "recursive": _metadata.get(req, "instance/", recursive=True)}


def ext_file(p, req):
    # The loader Google documents; it also asks Resource Manager for the
    # project id of the pool's project number.
    creds, project = google.auth.load_credentials_from_file(p["ext_file"], scopes=[CLOUD_PLATFORM])
    out = token_of(creds, req)
    out["project"] = project
    return out


def ext_aws(p, req):
    creds, project = google.auth.load_credentials_from_file(p["ext_aws_file"], scopes=[CLOUD_PLATFORM])
    out = token_of(creds, req)
    out["project"] = project
    return out


def ext_project(p, req):
    # GOOGLE_APPLICATION_CREDENTIALS names the external_account file and
    # GOOGLE_CLOUD_PROJECT is unset: the project can only come from
    # cloudresourcemanager.googleapis.com.
    creds, project = google.auth.default(scopes=[CLOUD_PLATFORM])
    creds.refresh(req)
    return {"project": project, "token": creds.token}


def get(session, url):
    resp = session.get(url, timeout=_peer.TIMEOUT_SECONDS)
    return {"status": resp.status_code, "content_type": resp.headers.get("Content-Type", ""), "body": resp.text}


def userinfo(p, req):
    # What an app does with a user's credentials: follow the discovery
    # document to userinfo_endpoint, with an AuthorizedSession.
    creds = user_credentials.Credentials.from_authorized_user_file(p["user_file"])
    session = google.auth.transport.requests.AuthorizedSession(creds)
    doc = session.get("https://accounts.google.com/.well-known/openid-configuration", timeout=_peer.TIMEOUT_SECONDS).json()
    out = get(session, doc["userinfo_endpoint"])
    out["client"] = doc["userinfo_endpoint"]
    return out


def tokeninfo_v1(p, req):
    return get(google.auth.transport.requests.AuthorizedSession(source(p)), p["url"])


def not_found(p, req):
    return get(google.auth.transport.requests.AuthorizedSession(source(p)), p["url"])


def sa_keys(p, req):
    # A receiver of signJwt output: verify_token with the signer's x509
    # certificate URL.
    claims = id_token.verify_token(
        p["signed_jwt"], req, audience=p["jwt_audience"],
        certs_url="https://www.googleapis.com/service_accounts/v1/metadata/x509/" + p["target"])
    return {"claims": claims}


def firebase(p, req):
    # Fetches securetoken@system.gserviceaccount.com's certificates.
    return {"claims": id_token.verify_firebase_token(p["firebase_token"], req, audience=p["firebase_project"])}


def iap(p, req):
    # Google's documented IAP check for Python.
    claims = id_token.verify_token(p["iap_assertion"], req, audience=p["iap_audience"],
                                   certs_url="https://www.gstatic.com/iap/verify/public_key")
    return {"claims": claims}


def invalid_scope(p, req):
    creds = service_account.Credentials.from_service_account_file(p["key_file"], scopes=[p["bogus_scope"]])
    try:
        creds.refresh(req)
    except google.auth.exceptions.RefreshError as e:
        return {"error": str(e)}
    raise SystemExit("the token request succeeded; want Google's invalid_scope")


FLOWS = {f.__name__: f for f in (sa_access, sa_id, user_refresh, imp_access, imp_id, downscope,
                                  tokeninfo, verify, mds_token, mds_id, mds_project, ext_file, ext_aws,
                                  ext_project, userinfo, tokeninfo_v1, not_found, sa_keys, firebase, iap,
                                  invalid_scope,
                                  mds_tree)}


def main():
    flow = FLOWS[sys.argv[1]]
    _peer.emit(flow(_peer.params(), _peer.request()))


if __name__ == "__main__":
    main()
