"""Service-account key file -> access token -> tokeninfo, with google-auth.

Input (stdin): {"key_file": path, "scopes": [...], "tokeninfo_url": url}.
Output: {"token", "expiry", "tokeninfo"}.

The key file's token_uri points at the fake, and google-auth posts there.
(The assertion's aud is still https://oauth2.googleapis.com/token: google-auth
hard-codes it, so the fake must accept Google's URL as aud.)
"""

import json

from google.oauth2 import service_account

import _peer


def main():
    p = _peer.params()
    req = _peer.request()
    creds = service_account.Credentials.from_service_account_file(
        p["key_file"], scopes=p["scopes"]
    )
    creds.refresh(req)

    # Tokeninfo the way google-auth's own system tests call it: a plain GET
    # with the token in the query.
    resp = req(
        p["tokeninfo_url"] + "?access_token=" + creds.token,
        method="GET",
        timeout=_peer.TIMEOUT_SECONDS,
    )
    if resp.status != 200:
        raise SystemExit(
            "tokeninfo: HTTP %d: %s" % (resp.status, resp.data.decode("utf-8", "replace"))
        )

    _peer.emit(
        {
            "token": creds.token,
            "expiry": _peer.rfc3339(creds.expiry),
            "tokeninfo": json.loads(resp.data.decode("utf-8")),
        }
    )


if __name__ == "__main__":
    main()
