"""The web shop (storefront/) at `/`, on the same origin as `/api` (so no CORS).

- `/assets/*`: Vite's content-hashed files, cached for a year as immutable.
- `/config.json`: what the shop needs to know at run time (is sign-in on, which issuer/client).
- any other GET: a file of the build's root (favicon) or else `index.html`, never cached, so a
  deep link such as `/product/<id>` opens the shop. `/api/**` is never answered with the page.
Every response carries a Content-Security-Policy that allows only this origin's scripts and
styles and, for sign-in, the identity provider's origin."""

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from api_gateway.config import Settings
from api_gateway.proxy import problem

# api-gateway/api_gateway/storefront.py -> <checkout>/storefront/dist
CHECKOUT_BUILD = Path(__file__).resolve().parents[2] / "storefront" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def storefront_directory(settings: Settings) -> Path:
    return Path(settings.storefront_dir) if settings.storefront_dir else CHECKOUT_BUILD


def issuer_for_browsers(settings: Settings) -> str:
    return (settings.storefront_oidc_issuer_url or settings.oidc_issuer_url).rstrip("/")


def content_security_policy(issuer: str) -> str:
    parts = urlsplit(issuer)
    provider = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            # Product images may live anywhere; the shop shows a placeholder when one fails.
            "img-src 'self' data: https: http:",
            f"connect-src 'self' {provider}".strip(),
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def mount_storefront(app: FastAPI, settings: Settings) -> None:
    """Adds the shop's routes; call last, after /api/**, so its catch-all matches only what
    nothing else does."""
    root = storefront_directory(settings).resolve()
    issuer = issuer_for_browsers(settings)
    security = {
        "Content-Security-Policy": content_security_policy(issuer),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }

    def file(path: Path, cache: str) -> Response:
        return FileResponse(path, headers={**security, "Cache-Control": cache})

    def inside_build(relative: str) -> Path | None:
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
        return None

    async def config(request: Request) -> Response:
        return JSONResponse(
            {
                "auth_enabled": settings.auth_enabled,
                "oidc_issuer_url": issuer,
                "oidc_client_id": settings.storefront_oidc_client_id,
            },
            headers={**security, "Cache-Control": REVALIDATE},
        )

    async def asset(request: Request) -> Response:
        found = inside_build(f"assets/{request.path_params['path']}")
        if found is None:
            return problem(404, f"No such file: {request.url.path}.")
        return file(found, IMMUTABLE)

    async def page(request: Request) -> Response:
        path: str = request.path_params["path"]
        if path == "api" or path.startswith("api/"):
            return problem(404, f"No route for /{path}.")
        if path and (found := inside_build(path)) is not None and found.name != "index.html":
            return file(found, REVALIDATE)
        index = root / "index.html"
        if not index.is_file():
            return problem(
                503, "The storefront is not built: run `make storefront` (or `make dev`)."
            )
        return file(index, REVALIDATE)

    app.router.add_route("/config.json", config, methods=["GET", "HEAD"], include_in_schema=False)
    app.router.add_route(
        "/assets/{path:path}", asset, methods=["GET", "HEAD"], include_in_schema=False
    )
    app.router.add_route("/{path:path}", page, methods=["GET", "HEAD"], include_in_schema=False)
