"""GCE metadata server -> access token, with google-auth's compute_engine.

Input (stdin): {} (nothing: the metadata server is found from the environment).
Output: {"token", "expiry", "service_account_email", "scopes",
"universe_domain"}.

compute_engine.Credentials() is what google.auth.default() returns on GCE.
Its refresh reads instance/service-accounts/default/?recursive=true (for the
email and scopes), then asks instance/service-accounts/<email>/token, naming
the email rather than "default". The data root comes from GCE_METADATA_HOST,
which the Go test points at gcptoken's metadata server on 127.0.0.1.
"""

from google.auth import compute_engine

import _peer


def main():
    _peer.params()
    req = _peer.request()
    creds = compute_engine.Credentials()
    creds.refresh(req)
    _peer.emit(
        {
            "token": creds.token,
            "expiry": _peer.rfc3339(creds.expiry),
            "service_account_email": creds.service_account_email,
            "scopes": list(creds.scopes or []),
            # Read from universe/universe-domain (404 or empty: googleapis.com).
            "universe_domain": creds.universe_domain,
        }
    )


if __name__ == "__main__":
    main()
