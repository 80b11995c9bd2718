"""The pooled HTTP client the gateway proxies with, behind one small interface so the
benchmark (bench/gateway_overhead.py) can compare candidates on equal terms: httpx, httpx2
(same API) and aiohttp. The default is chosen by those numbers (README)."""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import httpx

Headers = Sequence[tuple[str, str]]


class BodyTooLarge(Exception):
    """The client's body passed the gateway's limit while being streamed upstream."""


def _body_too_large(exc: BaseException) -> bool:
    """Clients wrap errors raised by the body they stream; find ours in the chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BodyTooLarge):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class UpstreamRefused(Exception):
    """Nothing listens, or the connection could not be made: nothing was sent."""


class UpstreamTimeout(Exception):
    """Connected (or tried to) but no answer in time."""

    timed_out = True  # "too slow": chassis.resilience.dependency_error makes it a 504


class UpstreamBroken(Exception):
    """The connection failed mid-exchange."""


@dataclass
class UpstreamReply:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]
    # Gives the connection back to the pool; called once the body was sent on.
    close: "CloseHook"


class CloseHook(Protocol):
    async def __call__(self) -> None: ...


class UpstreamClient(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | bytes,
        read_timeout: float,
    ) -> UpstreamReply: ...

    async def aclose(self) -> None: ...


class HttpxUpstreamClient:
    """httpx, or httpx2 (same API) when `library` is that module."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        library: ModuleType = httpx,
    ) -> None:
        self.x: Any = library
        self.connect_timeout = connect_timeout
        self.http = self.x.AsyncClient(
            timeout=self.x.Timeout(read_timeout, connect=connect_timeout),
            limits=self.x.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            # Redirects are the client's business, cookies likewise.
            follow_redirects=False,
            transport=transport,
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | bytes,
        read_timeout: float,
    ) -> UpstreamReply:
        x = self.x
        timeout = x.Timeout(read_timeout, connect=self.connect_timeout, pool=self.connect_timeout)
        request = self.http.build_request(
            method, url, headers=list(headers), content=body, timeout=timeout
        )
        try:
            response = await self.http.send(request, stream=True)
        except BodyTooLarge:
            raise
        except Exception as exc:
            if _body_too_large(exc):
                raise BodyTooLarge from exc
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return UpstreamReply(
            status=response.status_code,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw],
            body=self._body(response),
            close=response.aclose,
        )

    def _mapped(self, exc: Exception) -> Exception:
        x = self.x
        if isinstance(exc, x.ConnectError | x.ConnectTimeout | x.PoolTimeout):
            return UpstreamRefused(type(exc).__name__)
        if isinstance(exc, x.TimeoutException):
            return UpstreamTimeout(type(exc).__name__)
        if isinstance(exc, x.TransportError):
            return UpstreamBroken(type(exc).__name__)
        return exc

    async def _body(self, response: Any) -> AsyncIterator[bytes]:
        # Raw bytes: a gzip body stays gzip, Content-Length stays true.
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except self.x.TimeoutException as exc:
            raise UpstreamTimeout(type(exc).__name__) from exc
        except self.x.TransportError as exc:
            raise UpstreamBroken(type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self.http.aclose()


class AiohttpUpstreamClient:
    def __init__(
        self, *, max_connections: int, connect_timeout: float, read_timeout: float
    ) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._max_connections = max_connections
        self._read_timeout = read_timeout

    def _open(self) -> "object":
        aiohttp = self._aiohttp
        if self._session is None:
            # Created lazily: a ClientSession must be made inside the running loop.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | bytes,
        read_timeout: float,
    ) -> UpstreamReply:
        aiohttp = self._aiohttp
        session = self._open()
        assert isinstance(session, aiohttp.ClientSession)
        timeout = aiohttp.ClientTimeout(sock_connect=self.connect_timeout, sock_read=read_timeout)
        try:
            response = await session.request(
                method,
                url,
                headers=list(headers),
                data=body,
                timeout=timeout,
                allow_redirects=False,
            )
        except BodyTooLarge:
            raise
        except Exception as exc:
            if _body_too_large(exc):
                raise BodyTooLarge from exc
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from exc

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.content.iter_any():
                    yield chunk
            except TimeoutError as exc:
                raise UpstreamTimeout(type(exc).__name__) from exc
            except aiohttp.ClientError as exc:
                raise UpstreamBroken(type(exc).__name__) from exc

        async def close() -> None:
            response.release()

        return UpstreamReply(
            status=response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            body=chunks(),
            close=close,
        )

    def _mapped(self, exc: Exception) -> Exception:
        aiohttp = self._aiohttp
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
            return UpstreamRefused(type(exc).__name__)
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(type(exc).__name__)
        if isinstance(exc, aiohttp.ClientError):
            return UpstreamBroken(type(exc).__name__)
        return exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


CLIENTS = ("httpx", "httpx2", "aiohttp")


def make_client(
    kind: str, *, max_connections: int, connect_timeout: float, read_timeout: float
) -> UpstreamClient:
    if kind == "httpx":
        return HttpxUpstreamClient(
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    if kind == "httpx2":
        # Optional: installed with the workspace's dev group (the benchmark compares it).
        import httpx2

        return HttpxUpstreamClient(
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            library=httpx2,
        )
    if kind == "aiohttp":
        return AiohttpUpstreamClient(
            max_connections=max_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
    raise ValueError(f"unknown upstream client {kind!r}; choose one of {', '.join(CLIENTS)}")
