"""The contracts themselves: the AsyncAPI document is current, every example is valid, and
the envelope travels in both CloudEvents modes."""

import json

import pytest
import yaml
from pydantic import ValidationError

from chassis.events import InvalidEvent, decode_event, encode_event
from chassis.exact_json import dumps_exact
from contracts import AI_NOTIFICATION_READY, BY_NAME, ORDER_PLACED, PRODUCT_UPDATED, TOPICS
from contracts.asyncapi import DOCUMENT, build, render


def test_checked_in_asyncapi_document_is_current() -> None:
    """Fails when a model changed without `make asyncapi` (and the regenerated file)."""
    assert DOCUMENT.exists(), "contracts/asyncapi.yaml is missing: run `make asyncapi`"
    assert DOCUMENT.read_text(encoding="utf-8") == render(), (
        "contracts/asyncapi.yaml is stale: run `make asyncapi` and commit it"
    )


def test_asyncapi_document_is_a_3_0_document_with_every_topic() -> None:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == set(BY_NAME)
    for topic in TOPICS:
        message = document["components"]["messages"][f"{topic.model.__name__}V{topic.version}"]
        assert message["examples"], f"{topic.name} has no example"
        for producer in topic.producers:
            assert f"{producer}.send.{topic.name}" in document["operations"]
        for consumer in topic.consumers:
            assert f"{consumer}.receive.{topic.name}" in document["operations"]
    # Every $ref points at something the document defines.
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node = document
        for key in ref.removeprefix("#/").split("/"):
            assert key in node, f"dangling $ref {ref}"
            node = node[key]


def test_generation_is_deterministic() -> None:
    assert build() == build()


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.name)
def test_every_example_validates_and_round_trips_through_the_envelope(topic) -> None:
    assert topic.examples
    for example in topic.examples:
        data = topic.parse(example)
        event = topic.event(data, source=topic.producers[0], subject="s-1")
        wire = decode_event(encode_event(event))
        assert wire.type == topic.name
        assert wire.dataschema == f"urn:ecommerce-fleet:event:{topic.name}:v{topic.version}"
        assert topic.parse(wire.data) == data


def test_a_producer_cannot_send_another_topics_data() -> None:
    data = PRODUCT_UPDATED.parse(PRODUCT_UPDATED.examples[0])
    with pytest.raises(TypeError):
        ORDER_PLACED.event(data, source="x")  # type: ignore[arg-type]


def test_data_that_breaks_the_contract_is_refused() -> None:
    broken = {**ORDER_PLACED.examples[0], "customer_email": "not-an-email"}
    with pytest.raises(ValidationError):
        ORDER_PLACED.parse(broken)
    with pytest.raises(ValidationError):
        ORDER_PLACED.parse({**ORDER_PLACED.examples[0], "order_number": "A\r\nBcc: x@y"})


@pytest.mark.parametrize(
    "address",
    [
        # The email package folded this "To:" so that "Reply-To: attacker@…" began a line.
        'x<(Reply-To:attacker@evil.example"' + "p" * 50,
        "a,b@example.com",
        "a@example.com(comment)",
        '"quoted"@example.com',
        "a@[192.0.2.1]",
        "group:a@example.com;",
    ],
)
def test_an_address_that_is_more_than_one_plain_address_is_refused(address: str) -> None:
    for contract in (ORDER_PLACED, AI_NOTIFICATION_READY):
        with pytest.raises(ValidationError):
            contract.parse({**contract.examples[0], "customer_email": address})


@pytest.mark.parametrize("address", ["ada@example.com", "o'brien+shop@example.ie", "ü@bücher.de"])
def test_plain_addresses_still_pass(address: str) -> None:
    assert ORDER_PLACED.parse({**ORDER_PLACED.examples[0], "customer_email": address})


def test_unknown_fields_are_ignored_so_adding_one_is_compatible() -> None:
    data = ORDER_PLACED.parse({**ORDER_PLACED.examples[0], "loyalty_points": 12})
    assert "loyalty_points" not in ORDER_PLACED.dump(data)


def _binary_headers(**extra: bytes) -> list[tuple[str, bytes]]:
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-1",
        "ce_type": b"order-placed",
        "ce_source": b"legacy-shop",
        "ce_time": b"2026-11-26T10:00:00Z",
        "content-type": b"application/json; charset=utf-8",
        **extra,
    }
    return list(headers.items())


def test_binary_mode_is_accepted_beside_structured_mode() -> None:
    value = dumps_exact(ORDER_PLACED.examples[0]).encode()
    event = decode_event(value, _binary_headers(ce_subject=b"o-1", traceparent=b"00-x"))
    assert (event.id, event.type, event.source, event.subject) == (
        "evt-1",
        "order-placed",
        "legacy-shop",
        "o-1",
    )
    assert ORDER_PLACED.parse(event.data).total_amount == ORDER_PLACED.examples[0]["total_amount"]
    # Without ce_subject: subject is optional, as in the specification.
    assert decode_event(value, _binary_headers()).subject is None


def test_binary_mode_refuses_what_it_cannot_read() -> None:
    with pytest.raises(InvalidEvent, match="content-type"):
        decode_event(b"{}", _binary_headers(**{"content-type": b"application/avro"}))
    with pytest.raises(InvalidEvent, match="data is a JSON list"):
        decode_event(b"[]", _binary_headers())
    with pytest.raises(InvalidEvent, match="missing field 'id'"):
        decode_event(b"{}", [(k, v) for k, v in _binary_headers() if k != "ce_id"])


def test_structured_event_without_subject_is_accepted() -> None:
    document = {
        "specversion": "1.0",
        "id": "e",
        "type": "order-placed",
        "source": "s",
        "time": "2026-11-26T10:00:00Z",
        "data": {"x": 1},
    }
    event = decode_event(json.dumps(document).encode())
    assert event.subject is None
    assert b'"subject"' not in encode_event(event)
