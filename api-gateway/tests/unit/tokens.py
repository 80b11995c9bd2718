"""RSA keys and tokens made in the test process, and a JWKS served through httpx.MockTransport."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "http://idp.test/realms/ecommerce"
AUDIENCE = "ecommerce-app"


class KeyPair:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**entry, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        kid: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        body = claims_for(**(claims or {}))
        for name in drop:
            body.pop(name, None)
        return jwt.encode(body, self.private, algorithm="RS256", headers={"kid": kid or self.kid})


def claims_for(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "azp": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "email": "customer@example.com",
        "preferred_username": "customer",
        "realm_access": {"roles": ["customer"]},
    }
    claims.update(overrides)
    return claims


class FakeProvider:
    """Discovery + JWKS; `keys` may change between fetches; counts JWKS fetches."""

    def __init__(self, keys: list[KeyPair]) -> None:
        self.keys = keys
        self.jwks_fetches = 0
        self.down = False

    def handler(self) -> Callable[[httpx.Request], httpx.Response]:
        def handle(request: httpx.Request) -> httpx.Response:
            if self.down:
                raise httpx.ConnectError("provider down", request=request)
            if request.url.path.endswith("/.well-known/openid-configuration"):
                return httpx.Response(
                    200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/protocol/certs"}
                )
            if request.url.path.endswith("/protocol/certs"):
                self.jwks_fetches += 1
                return httpx.Response(200, json={"keys": [k.jwk() for k in self.keys]})
            return httpx.Response(404)

        return handle


def hs256_signed_with(secret: bytes, kid: str, claims: dict[str, Any]) -> str:
    """HS256 signed with the RSA public key as the HMAC secret (algorithm confusion). PyJWT
    refuses to make one, so it is assembled by hand."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"
