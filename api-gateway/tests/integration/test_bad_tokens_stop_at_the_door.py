"""Every bad-token case answers 401 (or 403 for a missing role) at the gateway, and none of
those requests reaches a service: the upstream counts what it receives."""

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..unit.tokens import KeyPair, claims_for, hs256_signed_with
from .conftest import GatewayFactory, ThreadedServer, free_port

AUDIENCE = "ecommerce-app"


class Provider:
    """A real HTTP OIDC provider stub (discovery + JWKS) whose signing key the test holds."""

    def __init__(self) -> None:
        self.key = KeyPair("stub-key")
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/realms/ecommerce"
        self.app = Starlette(
            routes=[
                Route("/realms/ecommerce/.well-known/openid-configuration", self.discovery),
                Route("/realms/ecommerce/protocol/openid-connect/certs", self.certs),
            ]
        )

    async def discovery(self, _: Request) -> JSONResponse:
        return JSONResponse(
            {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs"}
        )

    async def certs(self, _: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.jwk()]})

    def token(self, **claims: Any) -> str:
        return self.key.sign({"iss": self.issuer, "aud": AUDIENCE, "azp": AUDIENCE, **claims})


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    stub = Provider()
    with ThreadedServer(stub.app, stub.port):
        yield stub


def _bad_tokens(provider: Provider) -> dict[str, str]:
    now = int(time.time())
    good = provider.token()
    header, payload, signature = good.split(".")
    public_pem = provider.key.public_pem
    return {
        "expired": provider.token(exp=now - 120, iat=now - 600, nbf=now - 600),
        "not yet valid": provider.token(nbf=now + 600),
        "wrong issuer": provider.token(iss="http://evil.example/realms/ecommerce"),
        "wrong audience": provider.token(aud="someone-else", azp="someone-else"),
        "alg none": jwt.encode(claims_for(iss=provider.issuer), None, algorithm="none"),
        "hs256 with the public key": hs256_signed_with(
            public_pem, provider.key.kid, claims_for(iss=provider.issuer, aud=AUDIENCE)
        ),
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "signed by another key": KeyPair("stub-key").sign(claims_for(iss=provider.issuer)),
        "unknown kid": provider.key.sign(claims_for(iss=provider.issuer), kid="nope"),
        "malformed": "not.a.jwt",
    }


BAD_CASES = [
    "expired",
    "not yet valid",
    "wrong issuer",
    "wrong audience",
    "alg none",
    "hs256 with the public key",
    "tampered signature",
    "signed by another key",
    "unknown kid",
    "malformed",
]


@pytest.mark.parametrize("case", BAD_CASES)
async def test_bad_token_is_401_and_never_reaches_a_service(
    gateway: GatewayFactory, provider: Provider, case: str
) -> None:
    from . import upstream_app

    token = _bad_tokens(provider)[case]
    before = upstream_app.HITS
    async with gateway(
        auth_enabled=True, oidc_issuer_url=provider.issuer, oidc_audience=AUDIENCE
    ) as client:
        reply = await client.get("/api/products/p-1", headers={"Authorization": f"Bearer {token}"})
        refused_write = await client.post(
            "/api/orders", json={}, headers={"Authorization": f"Bearer {token}"}
        )
    assert reply.status_code == 401, (case, reply.text)
    assert refused_write.status_code == 401
    assert reply.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert before == upstream_app.HITS


async def test_missing_role_is_403_and_never_reaches_a_service(
    gateway: GatewayFactory, provider: Provider
) -> None:
    from . import upstream_app

    customer = provider.token(
        **{k: v for k, v in claims_for().items() if k in ("sub", "email", "realm_access")}
    )
    before = upstream_app.HITS
    async with gateway(
        auth_enabled=True, oidc_issuer_url=provider.issuer, oidc_audience=AUDIENCE
    ) as client:
        reply = await client.post(
            "/api/products", json={"name": "x"}, headers={"Authorization": f"Bearer {customer}"}
        )
        allowed = await client.get(
            "/api/products/p-1", headers={"Authorization": f"Bearer {customer}"}
        )
    assert reply.status_code == 403
    assert before + 1 == upstream_app.HITS  # only the allowed read went through
    assert allowed.status_code == 200
