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
    with local_stack({"oidc"}, profile, root=tmp_path, progress=Progress(quiet=True),
                     timeout=30, create_fleet_topics=False) as ep:
        issuer = ep.profile.oidc_issuer
        assert issuer == f"http://127.0.0.1:{profile.oidc_port}/realms/ecommerce"
        discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
        assert discovery["issuer"] == issuer
        certs = httpx.get(f"{issuer}/protocol/openid-connect/certs", timeout=5).json()
        assert certs == httpx.get(discovery["jwks_uri"], timeout=5).json()
        kid = certs["keys"][0]["kid"]

        token = password_grant(issuer, "customer")
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, jwt.PyJWK(certs["keys"][0]).key, algorithms=["RS256"],
                            audience="api-gateway", issuer=issuer)
        assert header["kid"] == kid
        assert claims["azp"] == "ecommerce-app"
        assert claims["preferred_username"] == "customer"
        assert claims["email"] == "customer@example.com"
        assert claims["realm_access"]["roles"] == ["customer"]

        refused = httpx.post(f"{issuer}/protocol/openid-connect/token", timeout=5, data={
            "grant_type": "password", "client_id": "ecommerce-app",
            "username": "admin", "password": "not-the-password"})
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_grant"

        service = httpx.post(f"{issuer}/protocol/openid-connect/token", timeout=5,
                             auth=("ecommerce-admin-cli", "admin-cli-secret"),
                             data={"grant_type": "client_credentials"})
        assert jwt.decode(service.json()["access_token"],
                          options={"verify_signature": False})["realm_access"] == \
            {"roles": ["admin"]}

        key_file = tmp_path / ".local/oidc-it/oidc/data/jwk.json"
        assert json.loads(key_file.read_text())["kid"] == kid
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        provider = ep.component("oidc")
        first_pid = provider.pid
        provider.restart()
        assert provider.pid != first_pid
        assert httpx.get(f"{issuer}/protocol/openid-connect/certs",
                         timeout=5).json()["keys"][0]["kid"] == kid
    assert first_pid is not None
    assert not is_alive(first_pid)


def test_token_command_refuses_unknown_users() -> None:
    assert token_main(["--user", "root", "--profile", "test"]) == 2
