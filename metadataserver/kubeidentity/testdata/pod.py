"""A "pod" for kubeidentity's tests: Google's Python client (google-auth,
as bundled with the Google Cloud CLI) reading its credentials from the
metadata server, with every TCP connection it makes coming from the pod's
address.

Input (stdin): {"source": "127.0.0.2", "audience": "https://…" or ""}.
Output: {"source", "credentials_type", "email", "token", "id_token",
"id_token_error", "error"}.

The process stands for a pod in its own network namespace: before
google-auth is imported, socket.socket.connect binds every IPv4 socket to
the pod's address, so the metadata server sees that source address, as it
would see a pod's IP. google-auth itself is unmodified: google.auth.default()
detects the metadata server (GCE_METADATA_IP, GET /), reads the default
account (recursive service-accounts/default/), its token, and, with an
audience, an ID token through google.oauth2.id_token.fetch_id_token.
Failures are reported in "error"/"id_token_error" rather than raised, so
the Go test can check refusals too.
"""

import json
import socket
import sys

PARAMS = json.load(sys.stdin)
SOURCE = PARAMS["source"]

_connect = socket.socket.connect


def _connect_from_pod(self, address):
    if self.family == socket.AF_INET:
        try:
            self.bind((SOURCE, 0))
        except OSError:
            pass  # already bound
    return _connect(self, address)


socket.socket.connect = _connect_from_pod

import google.auth  # noqa: E402  (after the patch, deliberately)
import google.auth.transport.requests  # noqa: E402
import google.oauth2.id_token  # noqa: E402


def main():
    out = {"source": SOURCE, "google_auth_version": google.auth.__version__}
    request = google.auth.transport.requests.Request()
    try:
        creds, _ = google.auth.default()
        out["credentials_type"] = "%s.%s" % (type(creds).__module__, type(creds).__name__)
        creds.refresh(request)
        out["token"] = creds.token
        out["email"] = creds.service_account_email
    except Exception as e:  # reported, not raised: refusals are tested too
        out["error"] = "%s: %s" % (type(e).__name__, e)
    audience = PARAMS.get("audience")
    if audience and "error" not in out:
        try:
            out["id_token"] = google.oauth2.id_token.fetch_id_token(request, audience)
        except Exception as e:
            out["id_token_error"] = "%s: %s" % (type(e).__name__, e)
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
