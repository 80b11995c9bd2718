import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from chassis.events import CloudEvent, InvalidEvent, decode_event, encode_event, new_event


def test_new_event_fills_the_cloudevents_envelope():
    event = new_event("order-placed", "order-service", "o-1", {"x": 1})
    assert event.specversion == "1.0"
    assert uuid.UUID(event.id)
    assert event.datacontenttype == "application/json"
    assert event.time.tzinfo is not None
    assert event.time.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - event.time).total_seconds()) < 5


def test_envelope_round_trips_through_bytes():
    order_id = uuid.uuid4()
    event = new_event(
        "order-placed",
        "order-service",
        order_id,
        {
            "order_id": order_id,
            "placed_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
            "items": [{"product_id": "p1", "quantity": 2, "unit_price": Decimal("999.99")}],
            "total": Decimal("1999.98"),
            "note": "café ✓",
        },
    )
    decoded = decode_event(encode_event(event))
    assert decoded == event
    assert decoded.subject == str(order_id)
    assert decoded.data["order_id"] == str(order_id)
    assert decoded.data["placed_at"] == "2025-01-02T03:04:05.000000Z"


def test_decimal_is_written_as_a_json_number_with_its_exact_digits():
    event = new_event("t", "s", "x", {"total": Decimal("1999.98"), "tiny": Decimal("0.10")})
    raw = encode_event(event)
    assert b'"total":1999.98' in raw
    assert b'"tiny":0.10' in raw
    # A plain JSON reader sees numbers, not strings.
    assert json.loads(raw)["data"]["total"] == 1999.98
    assert decode_event(raw).data["total"] == Decimal("1999.98")


def test_decimal_sum_does_not_drift_like_a_float():
    total = sum([Decimal("0.1")] * 3, Decimal("0"))
    big = Decimal("12345678901234567890.12")
    raw = encode_event(new_event("t", "s", "x", {"total": total, "big": big}))
    assert b'"total":0.3,' in raw
    assert decode_event(raw).data["big"] == Decimal("12345678901234567890.12")


def test_non_finite_decimal_is_refused():
    with pytest.raises(ValueError, match="not a JSON number"):
        encode_event(new_event("t", "s", "x", {"bad": Decimal("NaN")}))


def test_time_is_rfc3339_utc():
    event = CloudEvent(
        id="1",
        type="t",
        source="s",
        subject="x",
        data={},
        time=datetime(2025, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    document = json.loads(encode_event(event))
    assert document["time"] == "2025-05-01T10:00:00.000000Z"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not"),
        (b"[1, 2]", "JSON list, not an object"),
        (None, "no value"),
    ],
)
def test_decode_rejects_values_that_are_not_json_objects(raw, message):
    with pytest.raises(InvalidEvent, match=message):
        decode_event(raw)


def test_decode_names_the_missing_field():
    document = json.loads(encode_event(new_event("t", "s", "x", {})))
    del document["id"]
    with pytest.raises(InvalidEvent, match="missing field 'id'"):
        decode_event(json.dumps(document).encode())


def test_decode_rejects_wrong_specversion_and_naive_time():
    document = json.loads(encode_event(new_event("t", "s", "x", {})))
    with pytest.raises(InvalidEvent, match="specversion"):
        decode_event(json.dumps({**document, "specversion": "0.3"}).encode())
    with pytest.raises(InvalidEvent, match="time"):
        decode_event(json.dumps({**document, "time": "2025-01-01T00:00:00"}).encode())


def test_decode_ignores_unknown_extension_attributes():
    document = json.loads(encode_event(new_event("t", "s", "x", {"a": 1})))
    event = decode_event(json.dumps({**document, "traceparent": "00-abc"}).encode())
    assert event.data == {"a": 1}


def test_http_replies_keep_money_digits_like_events():
    import uuid as _uuid
    from datetime import UTC, datetime

    from chassis.exact_json import ExactJSONResponse

    body = ExactJSONResponse(
        {
            "total": Decimal("1999.98"),
            "unit": Decimal("10.00"),
            "id": _uuid.UUID(int=1),
            "at": datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        }
    ).body
    assert body == (
        b'{"total":1999.98,"unit":10.00,"id":"00000000-0000-0000-0000-000000000001",'
        b'"at":"2026-11-25T12:00:00.000000Z"}'
    )
