"""One attempt each at speaking a server's real protocol. A probe returns on success and
raises otherwise. Client libraries are imported inside so importing devstack stays cheap."""

import asyncio
import socket
from collections.abc import Awaitable, Callable

PROBE_TIMEOUT_SECONDS = 3.0

Probe = Callable[[], Awaitable[object]]


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


async def postgres(host: str, port: int, user: str, password: str | None) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database="postgres",
        timeout=PROBE_TIMEOUT_SECONDS,
    )
    await connection.close()


async def redis(host: str, port: int) -> None:
    from redis.asyncio import Redis

    client = Redis(
        host=host,
        port=port,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        if not await client.ping():
            raise ConnectionError("PING did not answer PONG")
    finally:
        await client.aclose()


async def kafka(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), PROBE_TIMEOUT_SECONDS)
        await asyncio.wait_for(admin.list_topics(), PROBE_TIMEOUT_SECONDS)
    finally:
        await admin.close()


async def elasticsearch(url: str) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
        response = await client.get(f"{url}/")
    if response.status_code != 200:
        raise ConnectionError(f"GET / answered {response.status_code}")
    if "version" not in response.json():
        raise ConnectionError("GET / answered JSON without a version")


async def mongodb(url: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url,
        serverSelectionTimeoutMS=int(PROBE_TIMEOUT_SECONDS * 1000),
        connectTimeoutMS=int(PROBE_TIMEOUT_SECONDS * 1000),
    )
    try:
        await client.admin.command("ping")
    finally:
        await client.close()


async def oidc(issuer: str) -> None:
    """The provider's discovery document names `issuer` and a JWKS with at least one key."""
    import httpx

    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
        response = await client.get(f"{issuer}/.well-known/openid-configuration")
        if response.status_code != 200:
            raise ConnectionError(f"discovery answered {response.status_code}")
        discovery = response.json()
        if discovery.get("issuer") != issuer:
            raise ConnectionError(f"discovery names issuer {discovery.get('issuer')!r}")
        keys = (await client.get(discovery["jwks_uri"])).json().get("keys")
    if not keys:
        raise ConnectionError("JWKS holds no key")


async def smtp(host: str, port: int) -> None:
    """The server greets with 220 and answers QUIT."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port), PROBE_TIMEOUT_SECONDS
    )
    try:
        greeting = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT_SECONDS)
        if not greeting.startswith(b"220"):
            raise ConnectionError(f"SMTP greeting was {greeting[:60]!r}")
        writer.write(b"QUIT\r\n")
        await writer.drain()
        await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT_SECONDS)
    finally:
        writer.close()


async def service_health(base_url: str) -> str:
    """The service name /health reports; raises unless it answers 200."""
    import httpx

    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
        response = await client.get(f"{base_url}/health")
    if response.status_code != 200:
        raise ConnectionError(f"GET /health answered {response.status_code}")
    body = response.json()
    return str(body.get("service", "")) if isinstance(body, dict) else ""
