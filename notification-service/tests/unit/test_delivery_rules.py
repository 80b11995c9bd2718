"""deliver_once against an in-memory ledger that behaves like the Redis one (the Redis one
itself is tested against real Redis in tests/integration)."""

import uuid
from decimal import Decimal

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chassis.events import decode_event, encode_event, new_event
from chassis.exact_json import dumps_exact
from contracts import AI_NOTIFICATION_READY, INVENTORY_LOW, ORDER_CANCELLED, ORDER_PLACED
from notification_service.config import Settings
from notification_service.rendering import Email, EmailRenderer
from notification_service.repository import SENT
from notification_service.schemas import Notification
from notification_service.service import DeliveryInProgress, NotificationService, UnknownEventType


class MemoryLedger:
    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.log: list[Notification] = []
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise RedisConnectionError("Connection refused")

    async def is_sent(self, event_id: str) -> bool:
        self._check()
        return self.states.get(event_id) == SENT

    async def claim(self, event_id: str) -> str | None:
        self._check()
        if event_id in self.states:
            return None
        token = f"claimed:{uuid.uuid4().hex}"
        self.states[event_id] = token
        return token

    def expire_claim(self, event_id: str) -> None:
        self.states.pop(event_id, None)

    async def release(self, event_id: str, token: str) -> None:
        if self.states.get(event_id) == token:
            del self.states[event_id]

    async def record_sent(self, event_id: str, notification: Notification) -> None:
        self._check()
        self.states[event_id] = SENT
        self.log.insert(0, notification)


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[Email, str]] = []
        self.fail_with: Exception | None = None

    async def send(self, email: Email, message_id: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((email, message_id))


@pytest.fixture
def parts() -> tuple[NotificationService, MemoryLedger, RecordingMailer]:
    ledger, mailer = MemoryLedger(), RecordingMailer()
    service = NotificationService(ledger, mailer, EmailRenderer(), Settings())  # type: ignore[arg-type]
    return service, ledger, mailer


def _placed() -> object:
    return new_event(
        "order-placed",
        "order-service",
        "o-1",
        {
            "order_id": "5b0f8a51-1d1c-4a55-9a4f-0f3c1d2e3a4b",
            "order_number": "ORD-20261125-00000001",
            "customer_name": "Ann",
            "customer_email": "ann@example.com",
            "total_amount": Decimal("10.00"),
            "items": [
                {
                    "product_id": "p",
                    "product_name": "Pen",
                    "quantity": 1,
                    "unit_price": Decimal("10.00"),
                }
            ],
        },
    )


async def test_a_redelivered_event_sends_one_email(parts) -> None:
    service, ledger, mailer = parts
    event = _placed()
    for _ in range(3):
        await service.handle_event(event)  # type: ignore[arg-type]
    assert len(mailer.sent) == 1
    email, message_id = mailer.sent[0]
    assert message_id == f"<{event.id}@notification-service>"  # type: ignore[attr-defined]
    assert email.kind == "order-confirmation"
    assert [n.to for n in ledger.log] == ["ann@example.com"]


async def test_a_failed_send_gives_the_claim_back_so_the_retry_sends(parts) -> None:
    service, ledger, mailer = parts
    event = _placed()
    mailer.fail_with = ConnectionRefusedError("relay down")
    with pytest.raises(ConnectionRefusedError):
        await service.handle_event(event)  # type: ignore[arg-type]
    assert event.id not in ledger.states  # type: ignore[attr-defined]
    mailer.fail_with = None
    await service.handle_event(event)  # type: ignore[arg-type]
    assert len(mailer.sent) == 1


async def test_a_live_claim_of_another_consumer_is_waited_for_not_sent_twice(parts) -> None:
    service, ledger, mailer = parts
    event = _placed()
    await ledger.claim(event.id)  # type: ignore[attr-defined]
    with pytest.raises(DeliveryInProgress):
        await service.handle_event(event)  # type: ignore[arg-type]
    assert mailer.sent == []


async def test_a_claim_whose_sender_crashed_is_taken_over_after_its_lease(parts) -> None:
    service, ledger, mailer = parts
    event = _placed()
    await ledger.claim(event.id)  # type: ignore[attr-defined]  # claimed, then the process died
    ledger.expire_claim(event.id)  # type: ignore[attr-defined]  # the lease ran out
    await service.handle_event(event)  # type: ignore[arg-type]
    assert len(mailer.sent) == 1  # the email was not lost


async def test_redis_down_means_no_email_and_an_error_the_consumer_retries(parts) -> None:
    service, ledger, mailer = parts
    ledger.down = True
    with pytest.raises(RedisConnectionError):
        await service.handle_event(_placed())  # type: ignore[arg-type]
    assert mailer.sent == []


async def test_every_consumed_topic_has_an_email_and_others_are_refused(parts) -> None:
    service, _, _ = parts
    low = new_event(
        "inventory-low",
        "inventory-service",
        "p1",
        {"product_id": "p1", "product_name": "Lamp", "available_qty": 2, "threshold": 5},
    )
    assert service.compose(low).to == Settings().admin_email
    ai = new_event(
        "ai-notification-ready",
        "ai-service",
        "ORD-1",
        {
            "order_number": "ORD-1",
            "customer_email": "a@example.com",
            "subject": "Hi",
            "body_html": "<p>x</p>",
            "body_text": "x",
        },
    )
    assert service.compose(ai).kind == "ai-follow-up"
    with pytest.raises(UnknownEventType):
        service.compose(new_event("order-status-changed", "order-service", "o", {}))


def test_lease_must_outlast_an_smtp_send() -> None:
    with pytest.raises(ValueError, match="DELIVERY_LEASE_SECONDS"):
        Settings(delivery_lease_seconds=5, smtp_timeout_seconds=10)


@pytest.mark.parametrize(
    "contract",
    [ORDER_PLACED, ORDER_CANCELLED, INVENTORY_LOW, AI_NOTIFICATION_READY],
    ids=lambda c: c.name,
)
def test_every_example_of_each_consumed_contract_becomes_an_email(parts, contract) -> None:
    """Contract test (consumer side): every example the contract publishes is accepted, as it
    travels (through the envelope's bytes), and gives an email."""
    service, _, _ = parts
    for example in contract.examples:
        wire = decode_event(encode_event(new_event(contract.name, "producer", None, example)))
        email = service.compose(wire)
        assert email.to
        assert email.subject


def test_binary_mode_cloud_events_are_read_like_structured_ones(parts) -> None:
    """A producer outside the fleet may send CloudEvents in binary mode (ce_* headers)."""
    service, _, _ = parts
    example = INVENTORY_LOW.examples[0]
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-1"),
        ("ce_type", b"inventory-low"),
        ("ce_source", b"erp"),
        ("ce_time", b"2026-11-26T10:00:00Z"),
        ("content-type", b"application/json"),
    ]
    event = decode_event(dumps_exact(example).encode(), headers)
    assert event.subject is None
    assert service.compose(event).kind == "inventory-low"


async def test_email_enabled_false_logs_instead_of_sending(monkeypatch) -> None:
    """EMAIL_ENABLED=false (the original design's log-only mode): nothing connects."""
    from notification_service.mailer import SmtpMailer
    from notification_service.rendering import EmailRenderer

    monkeypatch.setenv("EMAIL_ENABLED", "false")
    settings = Settings()
    assert settings.email_enabled is False  # the original name is ours too
    # Port 9 on a reserved address: any connection attempt would fail the test.
    mailer = SmtpMailer(
        "192.0.2.1", 9, sender="a@example.com", timeout_seconds=0.5, enabled=settings.email_enabled
    )
    email = EmailRenderer().inventory_low(
        INVENTORY_LOW.parse(INVENTORY_LOW.examples[0]), "admin@example.com"
    )
    await mailer.send(email, "<m-1@test>")
    await mailer.ping()
