"""Service-account key file -> ID token, with google-auth, two ways.

Input (stdin): {"key_file": path, "audience": url, "tokeninfo_url": url}.
Output: {"id_token", "expiry", "fetch_id_token", "tokeninfo"}.

1. service_account.IDTokenCredentials.from_service_account_file(...) and
   refresh: posts the jwt-bearer grant with a target_audience claim to the
   key's token_uri (the fake).
2. google.oauth2.id_token.fetch_id_token(request, audience): the ADC way. It
   can be pointed at the fake: it reads the key named by
   GOOGLE_APPLICATION_CREDENTIALS, which the Go test sets (to this same key
   file) in this process's environment only, and uses that key's token_uri.
   The metadata-server branch is never reached because the key file is
   found first; even so, GCE_METADATA_HOST/GCE_METADATA_IP point at a closed
   loopback port.

The ID token is then given to tokeninfo (GET ?id_token=...), as google-auth's
system tests do.
"""

import json

from google.oauth2 import id_token
from google.oauth2 import service_account

import _peer


def main():
    p = _peer.params()
    req = _peer.request()
    creds = service_account.IDTokenCredentials.from_service_account_file(
        p["key_file"], target_audience=p["audience"]
    )
    creds.refresh(req)

    fetched = id_token.fetch_id_token(req, p["audience"])

    resp = req(
        p["tokeninfo_url"] + "?id_token=" + creds.token,
        method="GET",
        timeout=_peer.TIMEOUT_SECONDS,
    )
    if resp.status != 200:
        raise SystemExit(
            "tokeninfo: HTTP %d: %s" % (resp.status, resp.data.decode("utf-8", "replace"))
        )

    _peer.emit(
        {
            "id_token": creds.token,
            "expiry": _peer.rfc3339(creds.expiry),
            "fetch_id_token": fetched,
            "tokeninfo": json.loads(resp.data.decode("utf-8")),
        }
    )


if __name__ == "__main__":
    main()
