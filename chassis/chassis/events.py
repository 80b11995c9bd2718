"""The CloudEvents 1.0 envelope every Kafka record value carries (DESIGN.md section 3).

Money stays exact end to end: a ``Decimal`` in ``data`` is written as a JSON number with
exactly its digits (``Decimal("1999.98")`` -> ``1999.98``) and numbers are read back as
``Decimal``, so a round trip never passes through a binary float.
"""

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chassis.exact_json import dumps_exact, rfc3339, to_json_ready

SPEC_VERSION: Literal["1.0"] = "1.0"
JSON_CONTENT_TYPE: Literal["application/json"] = "application/json"


class InvalidEvent(ValueError):
    """A record value that is not a well-formed CloudEvents 1.0 JSON envelope."""


class CloudEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = SPEC_VERSION
    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    source: str = Field(min_length=1)
    time: datetime
    subject: str
    datacontenttype: Literal["application/json"] = JSON_CONTENT_TYPE
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _time_in_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset (RFC 3339)")
        return value.astimezone(UTC)


def new_event(
    type: str, source: str, subject: str | uuid.UUID, data: Mapping[str, Any]
) -> CloudEvent:
    """A fresh event (new uuid id, time now in UTC); ``data`` may hold Decimal/UUID/datetime."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=type,
        source=source,
        time=datetime.now(UTC),
        subject=str(subject),
        data=to_json_ready(data),
    )


def encode_event(event: CloudEvent) -> bytes:
    document = {
        "specversion": event.specversion,
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "time": rfc3339(event.time),
        "subject": event.subject,
        "datacontenttype": event.datacontenttype,
        "data": to_json_ready(event.data),
    }
    return dumps_exact(document).encode()


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "envelope"
        if item["type"] == "missing":
            parts.append(f"missing field '{where}'")
        else:
            parts.append(f"field '{where}': {item['msg']}")
    return "; ".join(parts)


def decode_event(raw: bytes | str | None) -> CloudEvent:
    """Parse a record value; raises ``InvalidEvent`` saying what is wrong with it."""
    if raw is None:
        raise InvalidEvent("invalid CloudEvent: record has no value")
    try:
        document = json.loads(raw, parse_float=Decimal)
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"invalid CloudEvent: value is not UTF-8 ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"invalid CloudEvent: value is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise InvalidEvent(
            f"invalid CloudEvent: value is a JSON {type(document).__name__}, not an object"
        )
    try:
        return CloudEvent.model_validate(document)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid CloudEvent: {_describe(exc)}") from exc
