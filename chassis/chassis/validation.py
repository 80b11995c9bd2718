"""Hostile values in request bodies, refused before any route sees them.

JSON as Python reads it admits values no service can store or answer with: `NaN`,
`Infinity`, numbers beyond a double (`1e400` becomes infinity), lone UTF-16 surrogates
(`"\\ud800"`, not Unicode text: neither UTF-8 nor PostgreSQL nor BSON can hold one), integers of
thousands of digits, and nesting deep enough to exhaust the interpreter's recursion. The
`StrictJSONMiddleware` (installed by `create_app`) reads a JSON body once and answers
422 `{"detail": "<sentence>"}` when it holds any of them (422, like FastAPI's own answer to
malformed JSON); anything else, ordinary syntax errors included (FastAPI's 422 names the
position), passes on untouched. `Integer` is an `int` that refuses booleans
(`"stock_quantity": false` is not 0).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A `\uD800`..`\uDFFF` escape somewhere in the raw body: only then are strings walked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Longer integers are refused (Python's own limit for int() from text is 4300 digits).
MAX_INTEGER_DIGITS = 100


class HostileJSON(ValueError):
    """The body parses as JSON but holds a value no service accepts; the message says which."""


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# An int that refuses true/false (pydantic's lax mode would read them as 1/0).
Integer = Annotated[int, BeforeValidator(_not_bool)]


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HostileJSON(f"The number {text[:40]} is too large to be represented.")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise HostileJSON(
            f"An integer in the request body has more than {MAX_INTEGER_DIGITS} digits."
        )
    return int(text)


def _no_constant(name: str) -> Any:
    raise HostileJSON(f"{name} is not a JSON number; send a finite number.")


def _check_text(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise HostileJSON(
                    "The request body holds a lone UTF-16 surrogate "
                    "(such as \\ud800), which is not Unicode text."
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads_strict(body: bytes | str) -> Any:
    """``json.loads`` refusing NaN, infinities, lone surrogates, huge integers and nesting
    deeper than the interpreter can parse (HostileJSON); syntax errors raise ValueError."""
    try:
        value = json.loads(
            body, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant
        )
    except RecursionError:
        raise HostileJSON("The request body is nested too deeply.") from None
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if _SURROGATE_ESCAPE.search(raw):
        _check_text(value)
    return value


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    # FastAPI reads a body without a content type as JSON too.
    return True


class StrictJSONMiddleware:
    """Reads a JSON request body once, refuses hostile values with 422, replays it otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client left before sending its body; let the app see that.
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                loads_strict(body)
            except HostileJSON as exc:
                await _refuse(send, str(exc))
                return
            except (ValueError, UnicodeDecodeError):
                pass  # plain syntax errors: FastAPI's own 422 names the position
        await self.app(scope, _replay([body], None, receive), send)


def _replay(bodies: list[bytes], first: Message | None, receive: Receive) -> Receive:
    pending: list[Message] = [
        {"type": "http.request", "body": b, "more_body": False} for b in bodies
    ]
    if first is not None:
        pending.append(first)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _refuse(send: Send, sentence: str) -> None:
    body = json.dumps({"detail": sentence}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
