"""A fake Cognito user pool for tests: RSA signing keys, a JWKS served over HTTP on 127.0.0.1, and tokens.

Use the ``cognito`` fixture (tests/conftest.py)::

    def test_me(client, cognito):
        response = client.get("/api/me", headers=cognito.headers(sub="sub-alice"))
        token = cognito.token(sub="sub-bob", groups=["admin"], expires_in=-60)  # an expired staff token
        cognito.rotate()  # a new key signs from now on; the JWKS serves old and new keys
        cognito.server.fetches  # how often the JWKS was downloaded
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REGION = "us-east-1"
POOL_ID = "us-east-1_TestPool1"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
CLIENT_ID = "spa-client-id"
OTHER_CLIENT_ID = "other-client-id"


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private_key = _rsa_key(kid)
        self.jwk = {**json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key())), "kid": kid, "alg": "RS256"}
        self.jwk["use"] = "sig"


@cache
def _rsa_key(kid: str) -> rsa.RSAPrivateKey:
    # Key generation is the slow part (~0.1 s): one key per kid per test run.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/.well-known/jwks.json`` and counts the downloads."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.fail = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.fail:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/.well-known/jwks.json"

    def start(self) -> "JwksServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand (``alg: none``, forged HMAC...), as an attacker would."""
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)])


class FakeCognito:
    def __init__(self, server: JwksServer) -> None:
        self.server = server
        self.key = SigningKey("key-1")
        server.keys = [self.key.jwk]

    def claims(
        self,
        *,
        sub: str = "sub-alice",
        token_use: str = "access",  # noqa: S107  (the claim, not a secret)
        client_id: str = CLIENT_ID,
        issuer: str = ISSUER,
        groups: list[str] | None = None,
        expires_in: int = 3600,
        **extra: Any,
    ) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": issuer,
            "token_use": token_use,
            "iat": now,
            "auth_time": now,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
        }
        if token_use == "access":
            claims.update(client_id=client_id, username=sub, scope="aws.cognito.signin.user.admin")
        else:
            claims.update(aud=client_id, **{"cognito:username": sub})
        if groups is not None:
            claims["cognito:groups"] = groups
        claims.update(extra)
        return claims

    def token(self, *, key: SigningKey | None = None, kid: str | None = None, **claims: Any) -> str:
        key = key or self.key
        return jwt.encode(self.claims(**claims), key.private_key, algorithm="RS256", headers={"kid": kid or key.kid})

    def headers(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**claims)}"}

    def rotate(self, kid: str = "key-2") -> SigningKey:
        """Publish a new key (keeping the old one) and sign with it from now on."""
        self.key = SigningKey(kid)
        self.server.keys = [*self.server.keys, self.key.jwk]
        return self.key

    def alg_none_token(self, **claims: Any) -> str:
        return unsigned_token({"alg": "none", "typ": "JWT", "kid": self.key.kid}, self.claims(**claims))

    def hs256_token(self, **claims: Any) -> str:
        """Signed with HMAC using the public JWK as the secret: the classic algorithm-confusion forgery."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.key.kid}
        body = self.claims(**claims)
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}".encode()
        secret = json.dumps(self.key.jwk).encode()
        return unsigned_token(header, body, hmac.new(secret, signing_input, hashlib.sha256).digest())
