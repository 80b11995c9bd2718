"""Use cases and business rules of inventory-service. Each public method is one transaction."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chassis import BadRequest, Conflict, NotFound
from chassis.events import CloudEvent
from chassis.inbox import claim_event
from chassis.outbox import enqueue
from chassis.postgres import driver_connection
from contracts import (
    INVENTORY_LOW,
    ORDER_CANCELLED,
    ORDER_PLACED,
    ORDER_STATUS_CHANGED,
    PRODUCT_UPDATED,
    InventoryLow,
)
from inventory_service import repository as repo
from inventory_service.config import Settings
from inventory_service.models import ReservationStatus, outbox
from inventory_service.schemas import (
    InventoryCreate,
    InventoryItem,
    InventoryUpdate,
    Reservation,
    ReservationLine,
    ReservationRequest,
    StockCheck,
)

log = structlog.get_logger(__name__)

SWEEP_BATCH = 500


def to_item(row: "repo.Row | Mapping[str, Any]") -> InventoryItem:
    return InventoryItem(
        id=row["id"],
        product_id=row["product_id"],
        product_name=row["product_name"],
        quantity=row["quantity"],
        reserved_qty=row["reserved_qty"],
        available_qty=row["quantity"] - row["reserved_qty"],
        low_stock_threshold=row["low_stock_threshold"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _not_found(product_id: str) -> NotFound:
    return NotFound(f"Inventory not found for product: {product_id}")


def _insufficient(name: str) -> BadRequest:
    return BadRequest(f"Insufficient stock for product: {name}")


class InventoryService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    # -- stock items ---------------------------------------------------------------------

    async def create_item(self, data: InventoryCreate) -> InventoryItem:
        threshold = (
            data.low_stock_threshold
            if data.low_stock_threshold is not None
            else self.settings.low_stock_threshold
        )
        async with self.sessions.begin() as session:
            row = await repo.insert_item(
                session, data.product_id, data.product_name, data.quantity, threshold
            )
        if row is None:
            raise Conflict(f"Inventory for product {data.product_id} already exists")
        log.info("inventory.created", product_id=data.product_id, quantity=data.quantity)
        return to_item(row)

    async def list_items(self, limit: int, offset: int) -> list[InventoryItem]:
        async with self.sessions() as session:
            return [to_item(row) for row in await repo.list_items(session, limit, offset)]

    async def count_items(self) -> int:
        async with self.sessions() as session:
            return await repo.count_items(session)

    async def get_item(self, product_id: str) -> InventoryItem:
        async with driver_connection(self.sessions.kw["bind"]) as connection:
            row = await repo.fetch_item(connection, product_id)
        if row is None:
            raise _not_found(product_id)
        return to_item(row)

    async def check_stock(self, product_id: str, quantity: int) -> StockCheck:
        item = await self.get_item(product_id)
        return StockCheck(
            product_id=product_id,
            requested=quantity,
            in_stock=item.available_qty >= quantity,
            available_qty=item.available_qty,
        )

    async def reduce_stock(self, product_id: str, quantity: int) -> InventoryItem:
        async with self.sessions.begin() as session:
            row = await repo.take_stock(session, product_id, quantity)
            if row is None:
                raise await self._why_unavailable(session, product_id)
            await self._alert_if_low(session, row, previous_available=_available(row) + quantity)
        log.info("inventory.reduced", product_id=product_id, quantity=quantity)
        return to_item(row)

    async def restock(self, product_id: str, quantity: int) -> InventoryItem:
        async with self.sessions.begin() as session:
            row = await repo.add_stock(session, product_id, quantity)
        if row is None:
            raise _not_found(product_id)
        log.info("inventory.restocked", product_id=product_id, quantity=quantity)
        return to_item(row)

    async def update_item(self, product_id: str, data: InventoryUpdate | None) -> InventoryItem:
        changes = data.model_dump(exclude_none=True) if data is not None else {}
        if not changes:
            raise BadRequest("No fields to update")
        async with self.sessions.begin() as session:
            row = await repo.update_item(session, product_id, changes)
            if row is None:
                current = await repo.get_item(session, product_id)
                if current is None:
                    raise _not_found(product_id)
                raise BadRequest(
                    f"Cannot set quantity of product {product_id} to {changes['quantity']}: "
                    f"{current['reserved_qty']} units are reserved"
                )
            await self._alert_if_low(session, row, previous_available=row["previous_available"])
        return to_item(row)

    async def delete_item(self, product_id: str) -> str:
        async with self.sessions.begin() as session:
            if not await repo.delete_unreserved_item(session, product_id):
                current = await repo.get_item(session, product_id)
                if current is None:
                    raise _not_found(product_id)
                raise Conflict(
                    f"Cannot delete inventory for product {product_id}: "
                    f"{current['reserved_qty']} units are reserved"
                )
        log.info("inventory.deleted", product_id=product_id)
        return f"Inventory for product {product_id} deleted successfully"

    # -- reservations --------------------------------------------------------------------

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, bool]:
        """All items or none. Returns (reservation, created); a retry with the same id and
        items returns the existing reservation with created=False."""
        lines = {line.product_id: line.quantity for line in request.items}
        ttl = request.ttl_seconds or self.settings.reservation_ttl_seconds
        expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
        async with self.sessions.begin() as session:
            row = await repo.insert_reservation(session, request.reservation_id, expires_at)
            if row is None:
                existing = await self._load_reservation(session, request.reservation_id)
                if {line.product_id: line.quantity for line in existing.items} != lines:
                    raise Conflict(
                        f"Reservation {request.reservation_id} already exists with different items"
                    )
                return existing, False
            # Fail fast without queueing on the hot row lock when stock is visibly short; the
            # conditional UPDATE below stays the authority for everything else.
            snapshot = await repo.available_stock(session, lines)
            for product_id in sorted(lines):
                if snapshot.get(product_id, 0) < lines[product_id]:
                    raise await self._why_unavailable(session, product_id)
            await repo.insert_reservation_lines(session, request.reservation_id, lines)
            # Row locks are taken last (shortest hold) and in product_id order (no deadlocks).
            for product_id in sorted(lines):
                item = await repo.reserve_stock(session, product_id, lines[product_id])
                if item is None:
                    raise await self._why_unavailable(session, product_id)
                await self._alert_if_low(
                    session, item, previous_available=_available(item) + lines[product_id]
                )
        log.info("reservation.held", reservation_id=str(request.reservation_id), items=len(lines))
        return _reservation(row, lines), True

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation:
        async with self.sessions() as session:
            return await self._load_reservation(session, reservation_id)

    async def confirm_reservation(self, reservation_id: uuid.UUID) -> Reservation:
        async with self.sessions.begin() as session:
            return await self._confirm(session, reservation_id)

    async def release_reservation(self, reservation_id: uuid.UUID) -> Reservation:
        async with self.sessions.begin() as session:
            return await self._release(session, reservation_id)

    async def expire_due_reservations(self) -> int:
        """Give back the stock of held reservations past their expiry. Returns how many."""
        async with self.sessions.begin() as session:
            expired = await repo.expire_due_reservations(session, SWEEP_BATCH)
            if expired:
                await repo.release_stock(session, expired)
        if expired:
            log.info("reservation.expired", count=len(expired))
        return len(expired)

    # -- order events (each applied once: the dedup mark commits with the effect) ---------

    async def handle_event(self, event: CloudEvent) -> None:
        """The consumer's one handler: order events, and the catalog's product deletions."""
        if event.type == self.settings.topic_product_updated:
            await self.handle_product_event(event)
        else:
            await self.handle_order_event(event)

    async def handle_product_event(self, event: CloudEvent) -> None:
        """A product deleted in the catalog takes its stock row with it (applied once)."""
        product_id = retired_product(event)
        if product_id is None:
            return
        async with self.sessions.begin() as session:
            if not await claim_event(session, self.settings.consumer_group, event.id):
                return
            outcome = await repo.retire_item(session, product_id)
        log.info("inventory.product_deleted", product_id=product_id, outcome=outcome)

    async def handle_order_event(self, event: CloudEvent) -> None:
        """Apply an order event, parsed with its contract (data that breaks it raises and is
        dead-lettered after the consumer's retries)."""
        target = order_action(event, self.settings)
        if target is None:
            log.info("order_event.ignored", event_id=event.id, type=event.type)
            return
        order_id, action = target
        async with self.sessions.begin() as session:
            if not await claim_event(session, self.settings.consumer_group, event.id):
                log.info("order_event.duplicate_skipped", event_id=event.id)
                return
            if await repo.get_reservation(session, order_id) is None:
                log.info("order_event.no_reservation", order_id=str(order_id), type=event.type)
                return
            if action == "confirm":
                # Recovery path: the order is committed, so its reservation must not expire even
                # if order-service crashed before confirming it.
                await self._confirm(session, order_id, strict=False)
            elif action == "release":
                await self._release(session, order_id)
            else:
                await self._ship(session, order_id)

    # -- internals ------------------------------------------------------------------------

    async def _confirm(
        self, session: AsyncSession, reservation_id: uuid.UUID, *, strict: bool = True
    ) -> Reservation:
        moved = await repo.move_reservation(
            session,
            reservation_id,
            [ReservationStatus.HELD],
            ReservationStatus.CONFIRMED,
            only_unexpired=True,
        )
        reservation = await self._load_reservation(session, reservation_id)
        if moved or reservation.status in (
            ReservationStatus.CONFIRMED,
            ReservationStatus.COMMITTED,
        ):
            return reservation
        if not strict:
            log.warning(
                "reservation.confirm_too_late",
                reservation_id=str(reservation_id),
                status=reservation.status.value,
            )
            return reservation
        state = (
            "has expired"
            if reservation.status == ReservationStatus.HELD
            else (f"is {reservation.status.value.lower()}")
        )
        raise Conflict(f"Reservation {reservation_id} {state} and can no longer be confirmed")

    async def _release(self, session: AsyncSession, reservation_id: uuid.UUID) -> Reservation:
        if await repo.move_reservation(
            session,
            reservation_id,
            [ReservationStatus.HELD, ReservationStatus.CONFIRMED],
            ReservationStatus.RELEASED,
        ):
            await repo.release_stock(session, [reservation_id])
            log.info("reservation.released", reservation_id=str(reservation_id))
        reservation = await self._load_reservation(session, reservation_id)
        if reservation.status == ReservationStatus.COMMITTED:
            raise Conflict(f"Reservation {reservation_id} has shipped and cannot be released")
        return reservation

    async def _ship(self, session: AsyncSession, reservation_id: uuid.UUID) -> None:
        if await repo.move_reservation(
            session,
            reservation_id,
            [ReservationStatus.HELD, ReservationStatus.CONFIRMED],
            ReservationStatus.COMMITTED,
        ):
            await repo.ship_stock(session, [reservation_id])
            log.info("reservation.committed", reservation_id=str(reservation_id))
        else:
            log.warning("reservation.ship_skipped", reservation_id=str(reservation_id))

    async def _load_reservation(
        self, session: AsyncSession, reservation_id: uuid.UUID
    ) -> Reservation:
        row = await repo.get_reservation(session, reservation_id)
        if row is None:
            raise NotFound(f"Reservation not found: {reservation_id}")
        return _reservation(row, await repo.get_reservation_lines(session, reservation_id))

    async def _why_unavailable(self, session: AsyncSession, product_id: str) -> Exception:
        row = await repo.get_item(session, product_id)
        return _not_found(product_id) if row is None else _insufficient(row["product_name"])

    async def _alert_if_low(
        self, session: AsyncSession, row: Mapping[Any, Any], *, previous_available: int
    ) -> None:
        """Emit inventory-low once, when available stock crosses below the item's threshold."""
        available, threshold = _available(row), row["low_stock_threshold"]
        if not available < threshold <= previous_available:
            return
        topic = self.settings.topic_inventory_low
        event = INVENTORY_LOW.event(
            InventoryLow(
                product_id=row["product_id"],
                product_name=row["product_name"],
                available_qty=available,
                threshold=threshold,
            ),
            source=self.settings.service_name,
            subject=row["product_id"],
            event_type=topic,
        )
        await enqueue(session, outbox, topic, event, key=row["product_id"])
        log.info("inventory.low", product_id=row["product_id"], available_qty=available)


def _reservation(row: Mapping[Any, Any], lines: Mapping[str, int]) -> Reservation:
    return Reservation(
        reservation_id=row["id"],
        status=ReservationStatus(row["status"]),
        items=[ReservationLine(product_id=p, quantity=q) for p, q in sorted(lines.items())],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _available(row: Mapping[Any, Any]) -> int:
    return int(row["quantity"] - row["reserved_qty"])


def order_action(event: CloudEvent, settings: Settings) -> tuple[uuid.UUID, str] | None:
    """(order id, what to do with its reservation) for an order event; None when the event
    asks nothing of inventory (another status change, another type)."""
    if event.type == settings.topic_order_placed:
        return ORDER_PLACED.parse(event.data).order_id, "confirm"
    if event.type == settings.topic_order_cancelled:
        return ORDER_CANCELLED.parse(event.data).order_id, "release"
    if event.type == settings.topic_order_status_changed:
        change = ORDER_STATUS_CHANGED.parse(event.data)
        return (change.order_id, "ship") if change.to_status == "SHIPPED" else None
    return None


def retired_product(event: CloudEvent) -> str | None:
    """The product a `product-updated` event deletes, parsed with its contract (data that breaks
    it raises and is dead-lettered after the consumer's retries); None for an upsert."""
    change = PRODUCT_UPDATED.parse(event.data)
    return change.product_id if change.op == "delete" else None
