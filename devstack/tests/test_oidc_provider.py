"""The local OIDC provider as a devstack component: a real Node process (oauth2-mock-server
behind Keycloak's paths) on a free port under a tmp root, its tokens, its key across restarts."""

import json
import stat
from dataclasses import replace
from pathlib import Path

import httpx
import jwt

from devstack import local_stack
from devstack.demo_token import main as token_main
from devstack.oidc import password_grant
from devstack.pidfile import is_alive
from devstack.profiles import PROFILES
from devstack.progress import Progress
from devstack.services import free_port


def test_provider_issues_keycloak_shaped_tokens_and_keeps_its_key(
    tmp_path: Path, capsys: object
) -> None:
    profile = replace(PROFILES["test"], name="oidc-it", oidc_port=free_port())
    with local_stack(
        {"oidc"},
        profile,
        root=tmp_path,
        progress=Progress(quiet=True),
        timeout=30,
        create_fleet_topics=False,
    ) as ep:
        issuer = ep.profile.oidc_issuer
        assert issuer == f"http://127.0.0.1:{profile.oidc_port}/realms/ecommerce"
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == issuer
        certs = httpx.get(f"{issuer}/protocol/openid-connect/certs", timeout=5).json()
        assert certs == httpx.get(discovery["jwks_uri"], timeout=5).json()
        kid = certs["keys"][0]["kid"]

        token = password_grant(issuer, "customer")
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            jwt.PyJWK(certs["keys"][0]).key,
            algorithms=["RS256"],
            audience="api-gateway",
            issuer=issuer,
        )
        assert header["kid"] == kid
        assert claims["azp"] == "ecommerce-app"
        assert claims["preferred_username"] == "customer"
        assert claims["email"] == "customer@example.com"
        assert claims["realm_access"]["roles"] == ["customer"]

        refused = httpx.post(
            f"{issuer}/protocol/openid-connect/token",
            timeout=5,
            data={
                "grant_type": "password",
                "client_id": "ecommerce-app",
                "username": "admin",
                "password": "not-the-password",
            },
        )
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_grant"

        service = httpx.post(
            f"{issuer}/protocol/openid-connect/token",
            timeout=5,
            auth=("ecommerce-admin-cli", "admin-cli-secret"),
            data={"grant_type": "client_credentials"},
        )
        assert jwt.decode(service.json()["access_token"], options={"verify_signature": False})[
            "realm_access"
        ] == {"roles": ["admin"]}

        key_file = tmp_path / ".local/oidc-it/oidc/data/jwk.json"
        assert json.loads(key_file.read_text())["kid"] == kid
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        provider = ep.component("oidc")
        first_pid = provider.pid
        provider.restart()
        assert provider.pid != first_pid
        assert (
            httpx.get(f"{issuer}/protocol/openid-connect/certs", timeout=5).json()["keys"][0]["kid"]
            == kid
        )
    assert first_pid is not None
    assert not is_alive(first_pid)


def test_token_command_refuses_unknown_users() -> None:
    assert token_main(["--user", "root", "--profile", "test"]) == 2


def _pkce_pair() -> tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_the_shop_signs_a_chosen_user_in_with_code_and_pkce(tmp_path: Path) -> None:
    """The storefront's flow: login form, the user's password checked, a code bound to that
    user and to the PKCE challenge, one exchange per code."""
    profile = replace(PROFILES["test"], name="oidc-pkce", oidc_port=free_port())
    with local_stack(
        {"oidc"},
        profile,
        root=tmp_path,
        progress=Progress(quiet=True),
        timeout=30,
        create_fleet_topics=False,
    ) as ep:
        issuer = ep.profile.oidc_issuer
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
        assert "S256" in discovery["code_challenge_methods_supported"]
        verifier, challenge = _pkce_pair()
        shop = "http://127.0.0.1:9000/callback"
        params = {
            "response_type": "code",
            "client_id": "storefront",
            "redirect_uri": shop,
            "scope": "openid email",
            "state": "s-42",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        authorize = discovery["authorization_endpoint"]
        with httpx.Client(timeout=5) as http:
            form = http.get(authorize, params=params)
            assert form.status_code == 200
            assert "<form" in form.text
            assert (
                http.get(
                    authorize, params={**params, "redirect_uri": "http://evil.example/cb"}
                ).status_code
                == 400
            )
            assert (
                http.get(authorize, params={**params, "code_challenge_method": "plain"}).status_code
                == 400
            )
            wrong = http.post(authorize, data={**params, "username": "admin", "password": "no"})
            assert wrong.status_code == 401
            assert "Invalid username or password" in wrong.text

            signed_in = http.post(
                authorize, data={**params, "username": "admin", "password": "admin"}
            )
            assert signed_in.status_code == 302
            back = httpx.URL(signed_in.headers["location"])
            assert str(back.copy_with(query=None)) == shop
            assert back.params["state"] == "s-42"
            code = back.params["code"]

            exchange = {
                "grant_type": "authorization_code",
                "client_id": "storefront",
                "code": code,
                "redirect_uri": shop,
            }
            token_url = discovery["token_endpoint"]
            assert (
                http.post(
                    token_url, data={**exchange, "code_verifier": _pkce_pair()[0]}
                ).status_code
                >= 400
            )
            # The failed attempt above consumed the challenge, as a real provider would:
            # a new sign-in, then the right verifier.
            signed_in = http.post(
                authorize, data={**params, "username": "admin", "password": "admin"}
            )
            code = httpx.URL(signed_in.headers["location"]).params["code"]
            tokens = http.post(
                token_url, data={**exchange, "code": code, "code_verifier": verifier}
            )
            assert tokens.status_code == 200, tokens.text
            claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
            assert claims["preferred_username"] == "admin"
            assert claims["email"] == "admin@example.com"
            assert "admin" in claims["realm_access"]["roles"]
            assert "api-gateway" in claims["aud"]
            assert claims["azp"] == "storefront"
            again = http.post(token_url, data={**exchange, "code": code, "code_verifier": verifier})
            assert again.status_code >= 400
