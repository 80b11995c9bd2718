"""AUTH_ENABLED=true against the real local OIDC provider (devstack component `oidc`, the
npm oauth2-mock-server behind Keycloak's paths): tokens, roles, the customer's own orders."""

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import GatewayFactory

MINE = "11111111-1111-1111-1111-111111111111"
THEIRS = "22222222-2222-2222-2222-222222222222"
UNKNOWN = "33333333-3333-3333-3333-333333333333"


@pytest.fixture
def secured(gateway: GatewayFactory, local_oidc: str) -> GatewayFactory:
    def make(**overrides: object) -> object:
        return gateway(**{"auth_enabled": True, "oidc_issuer_url": local_oidc, **overrides})

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_401_with_a_bearer_challenge(secured: GatewayFactory) -> None:
    async with secured() as client:
        reply = await client.get("/api/products")
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert reply.json()["detail"].endswith(".")


@pytest.mark.parametrize("header", ["Bearer not.a.jwt", "Basic YWRtaW46YWRtaW4=", "Bearer "])
async def test_malformed_credentials_are_401(secured: GatewayFactory, header: str) -> None:
    async with secured() as client:
        reply = await client.get("/api/products", headers={"Authorization": header})
    assert reply.status_code == 401
    assert "invalid_token" in reply.headers["www-authenticate"]


async def test_a_token_signed_by_someone_else_is_401(
    secured: GatewayFactory, admin_token: str
) -> None:
    # Same claims and kid as a real token, signed with a key the provider never published.
    claims = jwt.decode(admin_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(admin_token)["kid"]
    forged = jwt.encode(
        claims,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": kid},
    )
    async with secured() as client:
        reply = await client.get("/api/products", headers=bearer(forged))
    assert reply.status_code == 401
    assert "signature" in reply.json()["detail"]


async def test_a_token_for_another_audience_is_401(
    secured: GatewayFactory, admin_token: str
) -> None:
    async with secured(oidc_audience="some-other-client") as client:
        reply = await client.get("/api/products", headers=bearer(admin_token))
    assert reply.status_code == 401
    assert "some-other-client" in reply.json()["detail"]


async def test_a_provider_naming_another_issuer_is_never_trusted(
    secured: GatewayFactory, admin_token: str, local_oidc: str
) -> None:
    # Configured for "localhost": discovery answers with the 127.0.0.1 issuer, so no key is
    # taken from it and no token passes; the gateway says the provider is unusable (503).
    async with secured(oidc_issuer_url=local_oidc.replace("127.0.0.1", "localhost")) as client:
        reply = await client.get("/api/products", headers=bearer(admin_token))
    assert reply.status_code == 503
    assert reply.json() == {"detail": "identity provider is unavailable"}


async def test_verified_identity_is_forwarded_and_the_token_is_not(
    secured: GatewayFactory, customer_token: str
) -> None:
    async with secured() as client:
        reply = await client.get(
            "/api/products", headers={**bearer(customer_token), "X-User-Roles": "admin"}
        )
    assert reply.status_code == 200
    sent = dict(reply.json()["headers"])
    assert sent["x-user-email"] == "customer@example.com"
    assert sent["x-user-roles"] == "customer"
    assert sent["x-user-id"]
    assert "authorization" not in sent


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/products"),
        ("DELETE", "/api/products/p-1"),
        ("PATCH", "/api/inventory/p-1/restock"),
        ("PATCH", f"/api/orders/{MINE}/status"),
        ("POST", "/api/search/reindex"),
    ],
)
async def test_admin_actions_are_403_for_a_customer_and_pass_for_an_admin(
    secured: GatewayFactory, customer_token: str, admin_token: str, method: str, path: str
) -> None:
    async with secured() as client:
        refused = await client.request(method, path, headers=bearer(customer_token), json={})
        allowed = await client.request(method, path, headers=bearer(admin_token), json={})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This action needs the admin role."}
    assert allowed.status_code == 200


async def test_a_customer_listing_orders_sees_only_its_own(
    secured: GatewayFactory, customer_token: str
) -> None:
    async with secured() as client:
        listed = await client.get("/api/orders", headers=bearer(customer_token))
        others = await client.get(
            "/api/orders/user/someone-else@example.com", headers=bearer(customer_token)
        )
    assert listed.status_code == 200
    assert [o["id"] for o in listed.json()] == [MINE]
    assert others.status_code == 403


async def test_a_customer_sees_and_cancels_only_its_own_order(
    secured: GatewayFactory, customer_token: str
) -> None:
    async with secured() as client:
        mine = await client.get(f"/api/orders/{MINE}", headers=bearer(customer_token))
        theirs = await client.get(f"/api/orders/{THEIRS}", headers=bearer(customer_token))
        missing = await client.get(f"/api/orders/{UNKNOWN}", headers=bearer(customer_token))
        cancel_theirs = await client.patch(
            f"/api/orders/{THEIRS}/cancel", headers=bearer(customer_token)
        )
        cancel_mine = await client.patch(
            f"/api/orders/{MINE}/cancel", headers=bearer(customer_token)
        )
    assert mine.status_code == 200
    assert mine.json()["customer_email"] == "customer@example.com"
    assert theirs.status_code == 403
    assert missing.status_code == 404
    assert cancel_theirs.status_code == 403
    assert cancel_mine.status_code == 200
    assert cancel_mine.json()["status"] == "CANCELLED"


async def test_a_customer_places_orders_only_under_its_own_email(
    secured: GatewayFactory, customer_token: str, admin_token: str
) -> None:
    order = {"customer_name": "C", "items": [{"product_id": "p1", "quantity": 1}]}
    async with secured() as client:
        own = await client.post(
            "/api/orders",
            headers=bearer(customer_token),
            json={**order, "customer_email": "Customer@Example.com"},
        )
        other = await client.post(
            "/api/orders",
            headers=bearer(customer_token),
            json={**order, "customer_email": "victim@example.com"},
        )
        by_admin = await client.post(
            "/api/orders",
            headers=bearer(admin_token),
            json={**order, "customer_email": "victim@example.com"},
        )
    assert own.status_code == 200
    assert own.json()["body_size"] > 0  # the checked body still reached order-service whole
    assert other.status_code == 403
    assert other.json() == {"detail": "A customer places orders only under its own email."}
    assert by_admin.status_code == 200


async def test_an_admin_sees_every_order(secured: GatewayFactory, admin_token: str) -> None:
    async with secured() as client:
        reply = await client.get(f"/api/orders/{THEIRS}", headers=bearer(admin_token))
    assert reply.status_code == 200


def test_the_provider_rejects_wrong_passwords(local_oidc: str) -> None:
    reply = httpx.post(
        f"{local_oidc}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "ecommerce-app",
            "username": "admin",
            "password": "wrong",
        },
        timeout=10,
    )
    assert reply.status_code == 401


async def test_client_credentials_tokens_carry_the_clients_roles(
    secured: GatewayFactory, local_oidc: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as provider:
        token = (
            await provider.post(
                f"{local_oidc}/protocol/openid-connect/token",
                auth=("ecommerce-admin-cli", "admin-cli-secret"),
                data={"grant_type": "client_credentials"},
            )
        ).json()
    async with secured() as client:
        reply = await client.post("/api/products", headers=bearer(token["access_token"]), json={})
    assert reply.status_code == 200
    assert dict(reply.json()["headers"])["x-user-roles"] == "admin"


async def test_each_user_has_its_own_rate_limit_budget(
    secured: GatewayFactory, admin_token: str, customer_token: str
) -> None:
    async with secured(rate_limit_default="2/minute") as client:
        admin = [
            (await client.get("/api/products", headers=bearer(admin_token))).status_code
            for _ in range(3)
        ]
        customer = await client.get("/api/products", headers=bearer(customer_token))
    assert admin == [200, 200, 429]
    assert customer.status_code == 200
    assert customer.headers["x-ratelimit-remaining"] == "1"
