"""authorized_user refresh token -> access token (+ ID token), with google-auth.

Input (stdin): {"authorized_user_file": path, "token_uri": url, "scopes": [...]}.
Output: {"token", "expiry", "id_token", "granted_scopes"}.

The fields come from the authorized_user file the fake wrote, but the
credentials are built with the constructor: google-auth's
Credentials.from_authorized_user_file always replaces token_uri with
https://oauth2.googleapis.com/token, so loading the file directly would
reach Google, not the fake.
"""

import json

from google.oauth2 import credentials

import _peer


def main():
    p = _peer.params()
    with open(p["authorized_user_file"], encoding="utf-8") as f:
        info = json.load(f)
    creds = credentials.Credentials(
        None,
        refresh_token=info["refresh_token"],
        token_uri=p["token_uri"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        # With scopes set, google-auth sends them in the refresh request and
        # records the "scope" of the answer as granted_scopes.
        scopes=p["scopes"],
    )
    creds.refresh(_peer.request())
    _peer.emit(
        {
            "token": creds.token,
            "expiry": _peer.rfc3339(creds.expiry),
            "id_token": creds.id_token,
            "granted_scopes": creds.granted_scopes,
        }
    )


if __name__ == "__main__":
    main()
