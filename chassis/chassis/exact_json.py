"""JSON whose numbers keep their digits: money never passes through a binary float.

The json module can only write a ``Decimal`` as a string, so each one goes out as a unique
string token that is then replaced, quotes included, by the number's own digits:
``Decimal("1999.98")`` is written ``1999.98`` and ``Decimal("10.00")`` ``10.00``. Used for
event payloads and for HTTP replies alike.
"""

import json
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_json_ready(value: Any) -> Any:
    """Plain JSON types for ``value``, keeping ``Decimal`` as is so its digits survive."""
    if value is None or isinstance(value, bool | int | str | Decimal):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_ready(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in event data; use an aware UTC datetime")
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return to_json_ready(value.value)
    if isinstance(value, BaseModel):
        return to_json_ready(value.model_dump(mode="python"))
    raise TypeError(f"cannot put {type(value).__name__} into event data")


# A Decimal goes into the text as a string token "<prefix><marker>:<n>", which is then replaced,
# quotes included, by the number's digits. The marker is random per call, so no string in the
# document can pass for a token (one compiled pattern; the marker is checked per match).
_TOKEN_PREFIX = "\x00exact:"
_TOKEN = re.compile(r'"\\u0000exact:([0-9a-f]{16}):(\d+)"')


def dumps_exact(document: Any) -> str:
    """Compact JSON of `document` with Decimals as their own digits; datetimes (aware only),
    dates, UUIDs, enums, sets and pydantic models as `to_json_ready` renders them. One pass,
    in the json module's C encoder: whatever it cannot write itself comes to `default`."""
    marker = secrets.token_hex(8)
    numbers: list[str] = []

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{value} is not a JSON number")
            numbers.append(str(value))
            return f"{_TOKEN_PREFIX}{marker}:{len(numbers) - 1}"
        if isinstance(value, Mapping):  # not a dict (those the encoder writes itself)
            return dict(value)
        return to_json_ready(value)  # datetimes, UUIDs, enums, models; TypeError otherwise

    try:
        text = json.dumps(
            document, default=default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError:
        # Keys that are not strings (e.g. UUIDs): to_json_ready turns them into strings first.
        numbers.clear()
        text = json.dumps(
            to_json_ready(document),
            default=default,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    if not numbers:
        return text

    def digits(match: re.Match[str]) -> str:
        return numbers[int(match[2])] if match[1] == marker else match[0]

    return _TOKEN.sub(digits, text)


class ExactJSONResponse(JSONResponse):
    """A FastAPI reply rendered with `dumps_exact`: Decimals keep their digits, datetimes are
    RFC 3339 UTC, UUIDs and enums plain strings, models dumped."""

    def render(self, content: Any) -> bytes:
        return dumps_exact(content).encode()
