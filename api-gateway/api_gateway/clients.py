"""The pooled HTTP client the gateway proxies with (aiohttp, chosen over httpx and httpx2 by
bench/gateway_overhead.py: see the README), behind one small interface (`UpstreamClient`) so
tests can put another in its place."""

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

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
    # True once the whole body has arrived and been handed out (the chunk in hand is the
    # last: it goes to the client in the final message, one send fewer).
    at_eof: Callable[[], bool] = lambda: False


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


class AiohttpUpstreamClient:
    def __init__(
        self, *, max_connections: int, connect_timeout: float, read_timeout: float
    ) -> None:
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._max_connections = max_connections
        self._read_timeout = read_timeout
        # One ClientTimeout per read timeout in use (two: the AI upstream's and the others').
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Created lazily: a ClientSession must be made inside the running loop.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def _timeout(self, read_timeout: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(read_timeout)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                sock_connect=self.connect_timeout, sock_read=read_timeout
            )
            self._timeouts[read_timeout] = timeout
        return timeout

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: AsyncIterator[bytes] | bytes,
        read_timeout: float,
    ) -> UpstreamReply:
        session = self._open()
        timeout = self._timeout(read_timeout)
        sent_headers = list(headers)
        data: AsyncIterator[bytes] | bytes | None = body
        if isinstance(body, bytes) and not body:
            # No body: no payload object to build and write. The upstream still gets the
            # `Content-Length: 0` that an empty payload would have given it.
            data = None
            if not any(name.lower() == "content-length" for name, _ in sent_headers):
                sent_headers.append(("Content-Length", "0"))
        try:
            response = await session.request(
                method,
                url,
                headers=sent_headers,
                data=data,
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
            at_eof=response.content.at_eof,
        )

    def _mapped(self, exc: Exception) -> Exception:
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


def make_client(
    *, max_connections: int, connect_timeout: float, read_timeout: float
) -> UpstreamClient:
    return AiohttpUpstreamClient(
        max_connections=max_connections,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
