"""GCE metadata server -> ID token, with google.oauth2.id_token.fetch_id_token.

Input (stdin): {"audience": url}.
Output: {"id_token"}.

With no GOOGLE_APPLICATION_CREDENTIALS, fetch_id_token pings GCE_METADATA_IP
and then builds compute_engine.IDTokenCredentials(use_metadata_identity_endpoint=True),
which reads instance/service-accounts/default/identity?audience=...&format=full
from GCE_METADATA_HOST. The library JSON-decodes the body only when its
Content-Type is application/json, so the server must send the JWT as text.
"""

from google.oauth2 import id_token

import _peer


def main():
    p = _peer.params()
    req = _peer.request()
    _peer.emit({"id_token": id_token.fetch_id_token(req, p["audience"])})


if __name__ == "__main__":
    main()
