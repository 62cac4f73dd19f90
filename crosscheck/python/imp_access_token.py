"""Impersonated access tokens, with google-auth's impersonated_credentials.

Input (stdin): {"key_file": path, "source_scopes": [...], "cases": [
    {"name", "target", "delegates": [...] or null, "scopes": [...],
     "lifetime": seconds, "iam_endpoint": url, "expect_error": bool}]}.
Output: {"cases": {name: {"token", "expiry"} or {"error_type", "error"}}}.

The source is service_account.Credentials for the fake's key (its token_uri
is the fake). impersonated_credentials.Credentials replaces the source's
scopes with https://www.googleapis.com/auth/iam before refreshing it, then
POSTs generateAccessToken with the source token as Bearer. The only thing
pointed at the fake is iam_endpoint_override, the library's documented
parameter for the full generateAccessToken URL (target included). The
expiry is what google-auth parsed from expireTime with its exact format
"%Y-%m-%dT%H:%M:%SZ".

A case with expect_error reports the RefreshError instead of failing; any
other failure is a traceback and a non-zero exit.

Not covered here: impersonated_credentials.IDTokenCredentials builds its
generateIdToken URL from the universe domain
("https://iamcredentials.<universe>/v1/...") and takes no override, so it
cannot reach a plain-HTTP fake on 127.0.0.1 (see README.md).
"""

from google.auth import exceptions
from google.auth import impersonated_credentials
from google.oauth2 import service_account

import _peer


def main():
    p = _peer.params()
    req = _peer.request()
    out = {}
    for case in p["cases"]:
        source = service_account.Credentials.from_service_account_file(
            p["key_file"], scopes=p["source_scopes"]
        )
        creds = impersonated_credentials.Credentials(
            source_credentials=source,
            target_principal=case["target"],
            target_scopes=case["scopes"],
            delegates=case["delegates"],
            lifetime=case["lifetime"],
            iam_endpoint_override=case["iam_endpoint"],
        )
        if case.get("expect_error"):
            try:
                creds.refresh(req)
            except exceptions.RefreshError as e:
                out[case["name"]] = {"error_type": type(e).__module__ + "." + type(e).__name__, "error": str(e)}
                continue
            out[case["name"]] = {"token": creds.token, "expiry": _peer.rfc3339(creds.expiry)}
            continue
        creds.refresh(req)
        out[case["name"]] = {
            "token": creds.token,
            "expiry": _peer.rfc3339(creds.expiry),
            "valid": creds.valid,
        }
    _peer.emit({"cases": out})


if __name__ == "__main__":
    main()
