"""Judges good and bad ID tokens with google-auth's verifier.

Input (stdin): {"tokens": [{"name", "id_token", "audience", "certs_url"}, ...]}.
Output: {"results": {name: {"accepted": true, "claims": {...}}
                           or {"accepted": false, "error": "<Type>: <message>"}}}.

Each token goes to google.oauth2.id_token.verify_token(token, request,
audience=..., certs_url=...), with the certs URL of the fake that signed it
(the {kid: X.509 PEM} endpoint, /oauth2/v1/certs) and google-auth's default
clock skew (0 s). Only ValueError counts as a rejection: that is what
google-auth raises for a bad token (MalformedError, InvalidValue). Anything
else, such as a failed certificate fetch, is not a verdict and fails the
script, so a broken harness can never look like a rejection.
"""

from google.oauth2 import id_token

import _peer


def main():
    p = _peer.params()
    req = _peer.request()
    results = {}
    for t in p["tokens"]:
        try:
            claims = id_token.verify_token(
                t["id_token"], req, audience=t["audience"], certs_url=t["certs_url"]
            )
        except ValueError as e:
            results[t["name"]] = {
                "accepted": False,
                "error": "%s: %s" % (type(e).__name__, e),
            }
        else:
            results[t["name"]] = {"accepted": True, "claims": claims}
    _peer.emit({"results": results})


if __name__ == "__main__":
    main()
