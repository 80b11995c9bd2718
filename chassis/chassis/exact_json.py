"""JSON whose numbers keep their digits: money never passes through a binary float.

The json module can only write a ``Decimal`` as a string, so each one goes out as a unique
string token that is then replaced, quotes included, by the number's own digits:
``Decimal("1999.98")`` is written ``1999.98`` and ``Decimal("10.00")`` ``10.00``. Used for
event payloads and for HTTP replies alike.
"""

import json
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


def dumps_exact(document: Any) -> str:
    # The json module writes Decimal only as a string, so each Decimal goes out as a unique
    # string token that is then replaced, quotes included, by the number's own digits.
    marker = uuid.uuid4().hex
    numbers: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{value} is not a JSON number")
            token = f'"{marker}:{len(numbers)}"'
            numbers[token] = str(value)
            return token[1:-1]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    text = json.dumps(swap(document), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for token, digits in numbers.items():
        text = text.replace(token, digits, 1)
    return text


class ExactJSONResponse(JSONResponse):
    """A FastAPI reply rendered with `dumps_exact`: Decimals keep their digits, datetimes are
    RFC 3339 UTC, UUIDs and enums plain strings, models dumped."""

    def render(self, content: Any) -> bytes:
        return dumps_exact(to_json_ready(content)).encode()
