# One image recipe for the seven services; a service is chosen by build arguments. Build context:
# the repository root (see .dockerignore). docker-compose.yml passes the arguments per service,
# and `make compose-check` checks them against the fleet registry (devstack/devstack/services.py):
#   docker build --build-arg SERVICE=order-service --build-arg PACKAGE=order_service \
#       --build-arg PORT=8002 -t ecommerce/order-service .
#   docker build --target gateway --build-arg SERVICE=api-gateway --build-arg PACKAGE=api_gateway \
#       --build-arg PORT=9000 -t ecommerce/api-gateway .
# The build stage installs exactly what uv.lock pins for SERVICE (its own package and the
# chassis with the extras it names, no dev tools) into /app/.venv; the runtime stage copies only
# that venv (the gateway's, also the web shop's built files).

# The storefront (storefront/): npm packages from the committed lock, then `tsc && vite build`.
# Only the gateway target uses it; BuildKit skips it for the other services.
FROM node:20-bookworm-slim AS storefront
WORKDIR /storefront
COPY storefront/package.json storefront/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY storefront/ ./
RUN npm run build

FROM python:3.11-slim-bookworm AS build
# The workspace member to install, e.g. order-service.
ARG SERVICE
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
# Dependencies first, cached until the lock changes: uv reads every workspace member's
# pyproject.toml to load the workspace, but needs none of their code.
COPY pyproject.toml uv.lock ./
COPY chassis/pyproject.toml chassis/
COPY contracts/pyproject.toml contracts/
COPY devstack/pyproject.toml devstack/
COPY api-gateway/pyproject.toml api-gateway/
COPY product-service/pyproject.toml product-service/
COPY order-service/pyproject.toml order-service/
COPY inventory-service/pyproject.toml inventory-service/
COPY notification-service/pyproject.toml notification-service/
COPY ai-service/pyproject.toml ai-service/
COPY search-service/pyproject.toml search-service/
RUN test -n "$SERVICE" && uv sync --frozen --no-dev --package "$SERVICE" --no-install-workspace
# Then the packages this service runs (its own, chassis, the event contracts), installed as
# wheels (not editable) so the runtime stage needs no source tree.
COPY chassis/ chassis/
COPY contracts/ contracts/
COPY ${SERVICE}/ ${SERVICE}/
RUN uv sync --frozen --no-dev --package "$SERVICE" --no-editable

FROM python:3.11-slim-bookworm AS service
# The service's import package (order_service) and port (8002).
ARG PACKAGE
ARG PORT
RUN test -n "$PACKAGE" && test -n "$PORT" && \
    useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
# Owned by root and only readable by the service user: the process cannot alter its code.
COPY --from=build /app/.venv /app/.venv
# uvicorn reads its app, host and port from UVICORN_* (so CMD stays in exec form).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UVICORN_APP=${PACKAGE}.main:app \
    UVICORN_HOST=0.0.0.0 \
    UVICORN_PORT=${PORT}
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['UVICORN_PORT'] + '/health', timeout=2)"]
CMD ["uvicorn"]

# The gateway also serves the web shop at / (api_gateway/storefront.py: hashed assets
# immutable, index.html revalidated).
FROM service AS gateway
COPY --from=storefront /storefront/dist /app/storefront
ENV STOREFRONT_DIR=/app/storefront

# The default target: a service without the web shop.
FROM service AS default
