"""Application Default Credentials on "GCE" -> project id, with google-auth.

Input (stdin): {}.
Output: {"credentials_type", "project_id"}.

google.auth.default() finds no GOOGLE_APPLICATION_CREDENTIALS, no gcloud ADC
file (HOME is an empty directory) and no App Engine, so it asks whether it is
on GCE: it pings GCE_METADATA_IP (GET /, which must answer 200 with
Metadata-Flavor: Google), then reads project/project-id from GCE_METADATA_HOST.
NO_GCE_CHECK and GOOGLE_CLOUD_PROJECT are unset, so both the ping and the
project id really come from the metadata server.
"""

import google.auth

import _peer


def main():
    _peer.params()
    creds, project_id = google.auth.default()
    _peer.emit(
        {
            "credentials_type": "%s.%s" % (type(creds).__module__, type(creds).__name__),
            "project_id": project_id,
        }
    )


if __name__ == "__main__":
    main()
