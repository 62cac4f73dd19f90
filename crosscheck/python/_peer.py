"""Shared plumbing for the Python peer scripts of gcptoken's cross-check suite.

Every script reads one JSON object (its parameters) from stdin and prints one
JSON object to stdout. Failures are not caught: the traceback goes to stderr
and the exit status is non-zero, which the Go test reports verbatim.

Only the standard library and google-auth (with the modules google-auth itself
depends on, as bundled with the Google Cloud CLI) are used.
"""

import datetime
import json
import sys

import google.auth
import google.auth.transport.requests

# Bounds every HTTP request a script makes; the Go test bounds the process too.
TIMEOUT_SECONDS = 20


def params():
    """Returns the JSON object the Go test wrote to stdin."""
    return json.load(sys.stdin)


def request():
    """Returns google-auth's requests-based transport.

    The Cloud CLI bundles requests in lib/third_party, so the transport every
    google-auth user gets by default is the one under test.
    """
    return google.auth.transport.requests.Request()


def rfc3339(dt):
    """Formats google-auth's naive-UTC expiry as RFC 3339, or None."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def emit(result):
    """Prints result, with the google-auth version, as the script's output."""
    result["google_auth_version"] = google.auth.__version__
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
