"""Use cases and business rules of order-service. No FastAPI, no driver types: sessions,
transactions and SQL are the repository's (repository.py).

Placing an order is a saga: (1) reserve every item at inventory-service, keyed by the new order
id; (2) commit the order, its lines, its Idempotency-Key and the `order-placed` outbox event in
one transaction; (3) confirm the reservation, after the reply (off the request path: inventory
also confirms on consuming `order-placed`, so the reply never waits for it). README.md has the
crash-recovery table.
"""

import asyncio
import hashlib
import json
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from chassis import BadRequest, DependencyUnavailable, NotFound, Unprocessable
from contracts import (
    ORDER_CANCELLED,
    ORDER_PLACED,
    ORDER_STATUS_CHANGED,
    OrderCancelled,
    OrderLine,
    OrderPlaced,
    OrderStatusChanged,
    Topic,
)
from contracts.events import EventData
from order_service.clients.inventory import InventoryClient
from order_service.config import Settings
from order_service.models import OrderStatus
from order_service.repository import (
    OrderNumberTaken,
    OrderPlacement,
    OrderRepository,
    OrderUnitOfWork,
)
from order_service.schemas import CENT, Order, OrderCreate

log = structlog.get_logger(__name__)

ORDER_NUMBER_ALPHABET = string.ascii_uppercase + string.digits
ORDER_NUMBER_ATTEMPTS = 5

# Only forward, one step at a time: DELIVERED needs SHIPPED first, because SHIPPED is what makes
# inventory turn the reservation into a real stock decrease.
NEXT_STATUSES: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class IdempotencyKeyTaken(Exception):
    """Another request committed an order under this key first."""


def new_order_number(today: datetime | None = None) -> str:
    day = (today or datetime.now(UTC)).strftime("%Y%m%d")
    suffix = "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(8))
    return f"ORD-{day}-{suffix}"


def request_fingerprint(request: OrderCreate) -> str:
    """Hash of the validated request: the same order spelled differently hashes the same."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_total(request: OrderCreate) -> Decimal:
    return sum((line.unit_price * line.quantity for line in request.items), Decimal(0)).quantize(
        CENT
    )


def event_data(order: Order, model: type[OrderPlaced] = OrderPlaced) -> OrderPlaced:
    """order-placed / order-cancelled data, built from the contract; money stays Decimal."""
    return model(
        order_id=order.id,
        order_number=order.order_number,
        customer_name=order.customer_name,
        customer_email=order.customer_email,
        total_amount=order.total_amount,
        status=order.status.value,
        items=[
            OrderLine(
                product_id=item.product_id,
                product_name=item.product_name,
                quantity=item.quantity,
                unit_price=item.unit_price,
            )
            for item in order.items
        ],
    )


def status_changed_data(order: Order, was: OrderStatus) -> OrderStatusChanged:
    return OrderStatusChanged(
        order_id=order.id,
        order_number=order.order_number,
        from_status=was.value,
        to_status=order.status.value,
    )


def check_transition(current: OrderStatus, wanted: OrderStatus) -> None:
    if wanted in NEXT_STATUSES[current]:
        return
    if wanted == OrderStatus.CANCELLED:
        raise BadRequest(f"Cannot cancel order with status {current.value}")
    raise BadRequest(f"Cannot change order status from {current.value} to {wanted.value}")


class OrderService:
    def __init__(
        self,
        repository: OrderRepository,
        inventory: InventoryClient,
        settings: Settings,
    ) -> None:
        self.repository = repository
        self.inventory = inventory
        self.settings = settings
        # Step 3 of placed orders, running after their replies (strong references: a task
        # nobody holds may be collected before it ran).
        self._confirming: set[asyncio.Task[None]] = set()

    # -- placing an order (the saga) -------------------------------------------------------

    async def place_order(
        self, request: OrderCreate, idempotency_key: str | None = None
    ) -> tuple[Order, bool]:
        """Returns (order, created); created is False when an Idempotency-Key replays."""
        if len(request.items) > self.settings.max_items_per_order:
            raise Unprocessable(
                f"An order may hold at most {self.settings.max_items_per_order} items."
            )
        fingerprint = request_fingerprint(request)
        if idempotency_key is not None:
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is not None:
                return replay, False

        order_id = uuid.uuid4()
        ttl = self.settings.order_reservation_ttl_seconds
        reserved_at = time.monotonic()
        # Step 1. Raises 400/404 (stock, product) or 503/504 (inventory away) before any write.
        await self.inventory.reserve(
            order_id, [(line.product_id, line.quantity) for line in request.items], ttl
        )
        # Step 2. Anything going wrong here gives the stock back (expiry is the backstop).
        try:
            # Committing after the hold may have lapsed would confirm stock nobody holds.
            if time.monotonic() - reserved_at > ttl / 2:
                raise DependencyUnavailable(
                    "The stock reservation ran out before the order could be saved; try again."
                )
            order = await self._commit_order(order_id, request, fingerprint, idempotency_key)
        except IdempotencyKeyTaken:
            await self._release_quietly(order_id)
            assert idempotency_key is not None
            replay = await self._replay(idempotency_key, fingerprint)
            if replay is None:  # the key's order was deleted in between; nothing to replay
                raise DependencyUnavailable("Please retry the request.") from None
            return replay, False
        except BaseException:
            await self._release_quietly(order_id)
            raise
        # Step 3, after the reply. If it fails (or the process dies first), inventory confirms
        # on consuming order-placed.
        task = asyncio.create_task(self._confirm_quietly(order_id))
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)
        log.info(
            "order.placed",
            order_id=str(order_id),
            order_number=order.order_number,
            total=str(order.total_amount),
        )
        return order, True

    async def _commit_order(
        self,
        order_id: uuid.UUID,
        request: OrderCreate,
        fingerprint: str,
        idempotency_key: str | None,
    ) -> Order:
        lines = [
            {
                "product_id": line.product_id,
                "product_name": line.product_name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "total_price": (line.unit_price * line.quantity).quantize(CENT),
            }
            for line in request.items
        ]
        for attempt in range(1, ORDER_NUMBER_ATTEMPTS + 1):
            try:
                async with self.repository.placement() as uow:
                    if idempotency_key is not None and not await uow.claim_idempotency_key(
                        idempotency_key, fingerprint, order_id
                    ):
                        raise IdempotencyKeyTaken(idempotency_key)
                    order = await uow.insert_order(
                        order_id=order_id,
                        order_number=new_order_number(),
                        customer_name=request.customer_name,
                        customer_email=str(request.customer_email),
                        total_amount=order_total(request),
                        status=OrderStatus.CONFIRMED,
                        lines=lines,
                    )
                    await self._emit(
                        uow,
                        ORDER_PLACED,
                        self.settings.topic_order_placed,
                        order,
                        event_data(order),
                    )
                return order
            except OrderNumberTaken:
                # Only a clash of the random order number is worth another try.
                if attempt == ORDER_NUMBER_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _confirm_quietly(self, order_id: uuid.UUID) -> None:
        try:
            await self.inventory.confirm(order_id)
        except Exception as exc:
            log.warning("order.confirm_deferred", order_id=str(order_id), error=str(exc))

    async def drain(self, timeout_seconds: float) -> None:
        """At shutdown: let the confirmations under way finish (the event covers any left)."""
        if self._confirming:
            await asyncio.wait(set(self._confirming), timeout=timeout_seconds)

    async def _replay(self, key: str, fingerprint: str) -> Order | None:
        async with self.repository.session() as uow:
            record = await uow.get_idempotency_key(key)
            if record is None:
                return None
            if record.request_hash != fingerprint:
                raise Unprocessable(
                    "Idempotency-Key was already used with a different request body; "
                    "use a new key for a new order."
                )
            order = await self._load(uow, record.order_id)
        log.info("order.idempotent_replay", order_id=str(order.id))
        return order

    async def _release_quietly(self, order_id: uuid.UUID) -> None:
        try:
            await self.inventory.release(order_id)
            log.info("order.reservation_released", order_id=str(order_id))
        except Exception as exc:
            # The reservation expires on its own (order_reservation_ttl_seconds).
            log.warning("order.release_failed", order_id=str(order_id), error=str(exc))

    # -- reading ---------------------------------------------------------------------------

    async def get_order(self, order_id: uuid.UUID) -> Order:
        async with self.repository.session() as uow:
            return await self._load(uow, order_id)

    async def list_orders(self, limit: int, offset: int, email: str | None = None) -> list[Order]:
        async with self.repository.session() as uow:
            return await uow.list_orders(limit, offset, email=email)

    async def count_orders(self, email: str | None = None) -> int:
        async with self.repository.session() as uow:
            return await uow.count_orders(email=email)

    # -- status changes (each one transaction with its events) ------------------------------

    async def change_status(self, order_id: uuid.UUID, wanted: OrderStatus) -> Order:
        async with self.repository.transaction() as uow:
            current = await uow.lock_status(order_id)
            if current is None:
                raise _not_found(order_id)
            if current == wanted == OrderStatus.CANCELLED:
                # Cancelling twice is a no-op, as in the original design: 200, no second event.
                return await self._load(uow, order_id)
            check_transition(current, wanted)
            order = await uow.set_status(order_id, wanted)
            if wanted == OrderStatus.CANCELLED:
                await self._emit(
                    uow,
                    ORDER_CANCELLED,
                    self.settings.topic_order_cancelled,
                    order,
                    event_data(order, OrderCancelled),
                )
            await self._emit(
                uow,
                ORDER_STATUS_CHANGED,
                self.settings.topic_order_status_changed,
                order,
                status_changed_data(order, current),
            )
        log.info("order.status_changed", order_id=str(order_id), to=wanted.value, was=current.value)
        return order

    async def cancel(self, order_id: uuid.UUID) -> Order:
        return await self.change_status(order_id, OrderStatus.CANCELLED)

    # -- internals ---------------------------------------------------------------------------

    async def _load(self, uow: OrderUnitOfWork, order_id: uuid.UUID) -> Order:
        order = await uow.get_order(order_id)
        if order is None:
            raise _not_found(order_id)
        return order

    async def _emit(
        self,
        uow: OrderUnitOfWork | OrderPlacement,
        contract: Topic[Any],
        topic: str,
        order: Order,
        data: EventData,
    ) -> None:
        event = contract.event(
            data, source=self.settings.service_name, subject=order.id, event_type=topic
        )
        await uow.enqueue(topic, event, key=str(order.id))


def _not_found(order_id: uuid.UUID) -> NotFound:
    return NotFound(f"Order not found: {order_id}")
