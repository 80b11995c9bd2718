"""Request-header size limit: past `MAX_REQUEST_HEADER_BYTES` the gateway answers 431 and
forwards nothing (RFC 6585). Counted per header line as name + value + 4 (": " and CRLF), the
way the bytes arrive on the wire."""

import json

from starlette.types import ASGIApp, Receive, Scope, Send


def header_bytes(headers: list[tuple[bytes, bytes]]) -> int:
    total = 4 * len(headers)
    for name, value in headers:
        total += len(name) + len(value)
    return total


class HeaderLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and header_bytes(scope["headers"]) > self.max_bytes:
            body = json.dumps(
                {
                    "detail": f"Request headers are larger than {self.max_bytes} "
                    f"bytes; send fewer or smaller headers."
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
