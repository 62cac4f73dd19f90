"""Verifies ID tokens against the fake's certificate endpoints, with google-auth.

Input (stdin): {"pem_certs_url": url, "jwks_url": url,
                "tokens": [{"name", "id_token", "audience"}, ...]}.
Output: {"pem": {name: claims}, "jwks": {name: claims} or {"skipped": why},
         "jwks_via_jwt_decode": {name: claims}}.

- pem: google.oauth2.id_token.verify_token(certs_url=<fake>/oauth2/v1/certs),
  the {kid: X.509 PEM} format, which google-auth verifies itself.
- jwks: verify_token(certs_url=<fake>/oauth2/v3/certs). google-auth hands a
  JWKS to PyJWT, which the Cloud CLI does not bundle; without it the flow is
  reported as skipped rather than faked.
- jwks_via_jwt_decode: the JWKS keys, turned into PEM public keys with
  cryptography (a google-auth dependency, bundled), checked by
  google.auth.jwt.decode. This still proves the fake's JWKS n/e encode the
  keys that signed the tokens, independently of Go's decoder.

verify_oauth2_token is not used: its certs URL is fixed to Google's.
"""

import base64
import json

from google.auth import jwt
from google.oauth2 import id_token

import _peer


def _b64int(s):
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")


def _jwks_to_pem(jwks):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    out = {}
    for k in jwks["keys"]:
        pub = rsa.RSAPublicNumbers(_b64int(k["e"]), _b64int(k["n"])).public_key()
        out[k["kid"]] = pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
    return out


def main():
    p = _peer.params()
    req = _peer.request()
    result = {"pem": {}, "jwks": {}, "jwks_via_jwt_decode": {}}

    for t in p["tokens"]:
        result["pem"][t["name"]] = id_token.verify_token(
            t["id_token"], req, audience=t["audience"], certs_url=p["pem_certs_url"]
        )

    try:
        import jwt as _pyjwt  # noqa: F401  (what verify_token needs for a JWKS)
    except ImportError:
        result["jwks"] = {"skipped": "PyJWT is not bundled with the Google Cloud CLI; "
                          "google-auth's verify_token needs it for a JWKS"}
    else:
        for t in p["tokens"]:
            result["jwks"][t["name"]] = id_token.verify_token(
                t["id_token"], req, audience=t["audience"], certs_url=p["jwks_url"]
            )

    resp = req(p["jwks_url"], method="GET", timeout=_peer.TIMEOUT_SECONDS)
    if resp.status != 200:
        raise SystemExit("jwks: HTTP %d" % resp.status)
    certs = _jwks_to_pem(json.loads(resp.data.decode("utf-8")))
    for t in p["tokens"]:
        result["jwks_via_jwt_decode"][t["name"]] = jwt.decode(
            t["id_token"], certs=certs, audience=t["audience"]
        )

    _peer.emit(result)


if __name__ == "__main__":
    main()
