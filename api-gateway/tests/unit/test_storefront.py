"""The shop at /: hashed assets cached for good, the page never cached, deep links fall back to
the page, /api/** never does, and every answer carries the Content-Security-Policy."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api_gateway.config import Settings
from api_gateway.main import build_app

ISSUER = "http://127.0.0.1:8081/realms/ecommerce"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>Fleet Shop</title>")
    (tmp_path / "assets" / "index-Ab12Cd.js").write_text("console.log('shop')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    return tmp_path


def client_for(build: Path, **settings: object) -> TestClient:
    app = build_app(
        Settings(
            rate_limit_enabled=False, storefront_dir=str(build), oidc_issuer_url=ISSUER, **settings
        )
    )  # type: ignore[arg-type]
    return TestClient(app)


def test_the_page_is_served_at_root_and_never_cached(build: Path) -> None:
    with client_for(build) as client:
        reply = client.get("/")
    assert reply.status_code == 200
    assert "Fleet Shop" in reply.text
    assert reply.headers["cache-control"] == "no-cache"
    csp = reply.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "connect-src 'self' http://127.0.0.1:8081" in csp
    assert "frame-ancestors 'none'" in csp
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_hashed_assets_are_cached_as_immutable(build: Path) -> None:
    with client_for(build) as client:
        reply = client.get("/assets/index-Ab12Cd.js")
        missing = client.get("/assets/index-Gone00.js")
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in reply.headers["content-type"]
    # A missing asset is a 404, never the page (a browser would run HTML as a script).
    assert missing.status_code == 404


def test_deep_links_open_the_shop_but_api_paths_never_do(build: Path) -> None:
    with client_for(build) as client:
        deep = client.get("/product/65f0c0ffee")
        favicon = client.get("/favicon.svg")
        unknown_api = client.get("/api/unknown/thing")
        bare_api = client.get("/api")
        health = client.get("/health")
    assert deep.status_code == 200
    assert "Fleet Shop" in deep.text
    assert favicon.text == "<svg/>"
    assert unknown_api.status_code == 404
    assert unknown_api.json() == {"detail": "No route for /api/unknown/thing."}
    assert bare_api.status_code == 404
    assert bare_api.json()["detail"] == "No route for /api."
    assert health.json()["service"] == "api-gateway"


def test_nothing_outside_the_build_is_served(build: Path) -> None:
    with client_for(build) as client:
        reply = client.get("/assets/%2e%2e/%2e%2e/secret.txt")
    assert reply.status_code == 404
    assert "not for the web" not in reply.text


def test_the_shop_learns_how_to_sign_in_from_config_json(build: Path) -> None:
    with client_for(build, auth_enabled=True) as client:
        config = client.get("/config.json")
    assert config.json() == {
        "auth_enabled": True,
        "oidc_issuer_url": ISSUER,
        "oidc_client_id": "storefront",
    }
    with client_for(build, storefront_oidc_issuer_url="https://id.example.com/realms/x/") as c:
        public = c.get("/config.json")
        page = c.get("/")
    assert public.json()["oidc_issuer_url"] == "https://id.example.com/realms/x"
    assert "connect-src 'self' https://id.example.com" in page.headers["content-security-policy"]


def test_an_unbuilt_shop_says_how_to_build_it(tmp_path: Path) -> None:
    with client_for(tmp_path / "nothing") as client:
        reply = client.get("/")
    assert reply.status_code == 503
    assert "make storefront" in reply.json()["detail"]
