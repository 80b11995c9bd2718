"""The CloudEvents 1.0 envelope of every Kafka record (docs/events.md).

Producers write structured mode (the whole envelope as the record value). Consumers accept
both modes of the Kafka protocol binding: structured, and binary (the attributes in ``ce_*``
headers, the value is ``data`` alone), so a producer outside the fleet may use either.

Money stays exact end to end: a ``Decimal`` in ``data`` is written as a JSON number with
exactly its digits (``Decimal("1999.98")`` -> ``1999.98``) and numbers are read back as
``Decimal``, so a round trip never passes through a binary float.
"""

import json
import uuid
from collections.abc import Iterable, Mapping
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
    # Optional, as in the specification; the fleet sets it to the aggregate's id.
    subject: str | None = None
    datacontenttype: Literal["application/json"] = JSON_CONTENT_TYPE
    # Names the contract (and its version) the data follows: contracts/asyncapi.yaml.
    dataschema: str | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _time_in_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time must carry a UTC offset (RFC 3339)")
        return value.astimezone(UTC)


def new_event(
    type: str,
    source: str,
    subject: str | uuid.UUID | None,
    data: Mapping[str, Any],
    *,
    dataschema: str | None = None,
) -> CloudEvent:
    """A fresh event (new uuid id, time now in UTC); ``data`` may hold Decimal/UUID/datetime.
    Services build their events through ``contracts`` (``Topic.event``), which calls this."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=type,
        source=source,
        time=datetime.now(UTC),
        subject=None if subject is None else str(subject),
        dataschema=dataschema,
        data=to_json_ready(data),
    )


def encode_event(event: CloudEvent) -> bytes:
    document: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "time": rfc3339(event.time),
    }
    if event.subject is not None:
        document["subject"] = event.subject
    document["datacontenttype"] = event.datacontenttype
    if event.dataschema is not None:
        document["dataschema"] = event.dataschema
    document["data"] = to_json_ready(event.data)
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


CE_HEADER_PREFIX = "ce_"


def _binary_attributes(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, Any] | None:
    """The ``ce_*`` headers of a binary-mode record, or None for a structured one."""
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for name, value in headers:
        lowered = name.lower()
        text = (value or b"").decode("utf-8", errors="replace")
        if lowered.startswith(CE_HEADER_PREFIX):
            attributes[lowered[len(CE_HEADER_PREFIX) :]] = text
        elif lowered == "content-type":
            content_type = text
    if "specversion" not in attributes:
        return None
    if content_type is not None:
        media_type = content_type.split(";")[0].strip().lower()
        if media_type != JSON_CONTENT_TYPE:
            raise InvalidEvent(
                f"invalid CloudEvent: binary-mode content-type {media_type!r} is not "
                f"{JSON_CONTENT_TYPE}"
            )
    attributes.setdefault("datacontenttype", JSON_CONTENT_TYPE)
    return attributes


def decode_event(
    raw: bytes | str | None, headers: Iterable[tuple[str, bytes | None]] | None = None
) -> CloudEvent:
    """Parse a record (structured mode, or binary mode when ``headers`` hold ``ce_*``
    attributes); raises ``InvalidEvent`` saying what is wrong with it."""
    binary = _binary_attributes(headers or ())
    if raw is None:
        raise InvalidEvent("invalid CloudEvent: record has no value")
    try:
        document = json.loads(raw, parse_float=Decimal)
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"invalid CloudEvent: value is not UTF-8 ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"invalid CloudEvent: value is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        what = "data" if binary is not None else "value"
        raise InvalidEvent(
            f"invalid CloudEvent: {what} is a JSON {type(document).__name__}, not an object"
        )
    if binary is not None:
        document = {**binary, "data": document}
    try:
        return CloudEvent.model_validate(document)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid CloudEvent: {_describe(exc)}") from exc
