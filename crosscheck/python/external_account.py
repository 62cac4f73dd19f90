"""External account (workload identity federation) tokens, with google-auth.

Input (stdin): {"cases": [{"name", "file", "scopes"}]}; the AWS_* variables
of the AWS cases come from the environment the Go test sets.
Output: {"cases": {name: {"token", "expiry", "class"}}}.

Each file is loaded with the class for its source, google.auth.aws.Credentials
or google.auth.identity_pool.Credentials (from_info), and a workforce user's
external_account_authorized_user file with that module's Credentials. Not
google.auth.load_credentials_from_file: it also asks Cloud Resource Manager
for the project of the pool's project number, at a fixed Google URL that the
fake cannot stand in for offline. Every URL used (token_url,
the AWS instance-metadata URLs, service_account_impersonation_url) comes
from the file, which points at the fake. The AWS subject token is signed by
google-auth's own SigV4 code; the fake recomputes the signature.
"""

import json

from google.auth import aws
from google.auth import external_account_authorized_user
from google.auth import identity_pool

import _peer


def main():
    p = _peer.params()
    req = _peer.request()
    out = {}
    for case in p["cases"]:
        with open(case["file"], encoding="utf-8") as f:
            info = json.load(f)
        if info["type"] == "external_account_authorized_user":
            # Workforce sign-in: refreshed at the file's token_url (STS
            # /v1/oauthtoken); its scopes are those of the sign-in.
            creds = external_account_authorized_user.Credentials.from_info(info)
        else:
            cls = aws.Credentials if "environment_id" in info["credential_source"] else identity_pool.Credentials
            creds = cls.from_info(info, scopes=case["scopes"])
        creds.refresh(req)
        out[case["name"]] = {
            "token": creds.token,
            "expiry": _peer.rfc3339(creds.expiry),
            "class": type(creds).__module__ + "." + type(creds).__name__,
        }
    _peer.emit({"cases": out})


if __name__ == "__main__":
    main()
