"""Use cases and business rules of inventory-service. Each public method is one transaction.
No driver types: sessions, transactions and SQL are the repository's (repository.py)."""

import uuid
from datetime import UTC, datetime, timedelta

import structlog

from chassis import BadRequest, Conflict, NotFound
from chassis.events import CloudEvent
from contracts import (
    INVENTORY_LOW,
    ORDER_CANCELLED,
    ORDER_PLACED,
    ORDER_STATUS_CHANGED,
    PRODUCT_UPDATED,
    InventoryLow,
)
from inventory_service.config import Settings
from inventory_service.models import ReservationStatus
from inventory_service.repository import (
    InventoryRepository,
    InventoryUnitOfWork,
    ReservationDesk,
    Reserved,
)
from inventory_service.schemas import (
    InventoryCreate,
    InventoryItem,
    InventoryUpdate,
    Reservation,
    ReservationRequest,
    StockCheck,
)

log = structlog.get_logger(__name__)

SWEEP_BATCH = 500
# A confirm of a reservation in these states has nothing left to do.
_CONFIRMED_OR_LATER = (ReservationStatus.CONFIRMED, ReservationStatus.COMMITTED)


def _not_found(product_id: str) -> NotFound:
    return NotFound(f"Inventory not found for product: {product_id}")


def _insufficient(name: str) -> BadRequest:
    return BadRequest(f"Insufficient stock for product: {name}")


def _reservation_not_found(reservation_id: uuid.UUID) -> NotFound:
    return NotFound(f"Reservation not found: {reservation_id}")


class InventoryService:
    def __init__(self, repository: InventoryRepository, settings: Settings) -> None:
        self.repository = repository
        self.settings = settings

    # -- stock items ---------------------------------------------------------------------

    async def create_item(self, data: InventoryCreate) -> InventoryItem:
        threshold = (
            data.low_stock_threshold
            if data.low_stock_threshold is not None
            else self.settings.low_stock_threshold
        )
        async with self.repository.transaction() as uow:
            item = await uow.insert_item(
                data.product_id, data.product_name, data.quantity, threshold
            )
        if item is None:
            raise Conflict(f"Inventory for product {data.product_id} already exists")
        log.info("inventory.created", product_id=data.product_id, quantity=data.quantity)
        return item

    async def list_items(self, limit: int, offset: int) -> list[InventoryItem]:
        async with self.repository.session() as uow:
            return await uow.list_items(limit, offset)

    async def count_items(self) -> int:
        async with self.repository.session() as uow:
            return await uow.count_items()

    async def get_item(self, product_id: str) -> InventoryItem:
        item = await self.repository.fetch_item(product_id)
        if item is None:
            raise _not_found(product_id)
        return item

    async def check_stock(self, product_id: str, quantity: int) -> StockCheck:
        item = await self.get_item(product_id)
        return StockCheck(
            product_id=product_id,
            requested=quantity,
            in_stock=item.available_qty >= quantity,
            available_qty=item.available_qty,
        )

    async def reduce_stock(self, product_id: str, quantity: int) -> InventoryItem:
        async with self.repository.transaction() as uow:
            item = await uow.take_stock(product_id, quantity)
            if item is None:
                raise await self._why_unavailable(uow, product_id)
            await self._alert_if_low(uow, item, previous_available=item.available_qty + quantity)
        log.info("inventory.reduced", product_id=product_id, quantity=quantity)
        return item

    async def restock(self, product_id: str, quantity: int) -> InventoryItem:
        async with self.repository.transaction() as uow:
            item = await uow.add_stock(product_id, quantity)
        if item is None:
            raise _not_found(product_id)
        log.info("inventory.restocked", product_id=product_id, quantity=quantity)
        return item

    async def update_item(self, product_id: str, data: InventoryUpdate | None) -> InventoryItem:
        changes = data.model_dump(exclude_none=True) if data is not None else {}
        if not changes:
            raise BadRequest("No fields to update")
        async with self.repository.transaction() as uow:
            updated = await uow.update_item(product_id, changes)
            if updated is None:
                current = await uow.get_item(product_id)
                if current is None:
                    raise _not_found(product_id)
                raise BadRequest(
                    f"Cannot set quantity of product {product_id} to {changes['quantity']}: "
                    f"{current.reserved_qty} units are reserved"
                )
            item, previous_available = updated
            await self._alert_if_low(uow, item, previous_available=previous_available)
        return item

    async def delete_item(self, product_id: str) -> str:
        async with self.repository.transaction() as uow:
            if not await uow.delete_unreserved_item(product_id):
                current = await uow.get_item(product_id)
                if current is None:
                    raise _not_found(product_id)
                raise Conflict(
                    f"Cannot delete inventory for product {product_id}: "
                    f"{current.reserved_qty} units are reserved"
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
        # One statement, all or nothing by itself: no transaction, unless the reservation takes
        # an item below its low-stock threshold (the alert commits with the stock change).
        async with self.repository.reservation_statements() as desk:
            outcome = await desk.reserve(
                request.reservation_id, expires_at, lines, alerts_allowed=False
            )
            if not outcome.needs_alerts:
                reservation = await self._reserved(desk, request, lines, outcome)
        if outcome.needs_alerts:
            async with self.repository.reservations() as desk:
                outcome = await desk.reserve(
                    request.reservation_id, expires_at, lines, alerts_allowed=True
                )
                reservation = await self._reserved(desk, request, lines, outcome)
                for item, quantity in outcome.taken:
                    await self._alert_if_low(
                        desk, item, previous_available=item.available_qty + quantity
                    )
        if outcome.reservation is None:
            return reservation, False
        log.info("reservation.held", reservation_id=str(request.reservation_id), items=len(lines))
        return reservation, True

    async def _reserved(
        self,
        desk: ReservationDesk,
        request: ReservationRequest,
        lines: dict[str, int],
        outcome: Reserved,
    ) -> Reservation:
        """The reservation `desk.reserve` wrote; or, when it wrote none, the existing one of a
        retry with the same items (409 with other items); else why it could not be held."""
        if outcome.reservation is not None:
            return outcome.reservation
        existing = await desk.get_reservation(request.reservation_id)
        if existing is not None:
            if {line.product_id: line.quantity for line in existing.items} != lines:
                raise Conflict(
                    f"Reservation {request.reservation_id} already exists with different items"
                )
            return existing
        if outcome.short is None:  # it fitted: only an existing reservation stops that
            raise RuntimeError(f"reservation {request.reservation_id} neither written nor refused")
        product_id, product_name = outcome.short
        raise _not_found(product_id) if product_name is None else _insufficient(product_name)

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation:
        async with self.repository.reservation_statements() as desk:
            return await self._load_reservation(desk, reservation_id)

    async def confirm_reservation(self, reservation_id: uuid.UUID) -> Reservation:
        # The status change is one statement; what follows only reads: no transaction needed.
        async with self.repository.reservation_statements() as desk:
            return await self._confirm(desk, reservation_id)

    async def release_reservation(self, reservation_id: uuid.UUID) -> Reservation:
        async with self.repository.reservations() as desk:
            return await self._release(desk, reservation_id)

    async def expire_due_reservations(self) -> int:
        """Give back the stock of held reservations past their expiry. Returns how many."""
        async with self.repository.reservations() as desk:
            expired = await desk.expire_due_reservations(SWEEP_BATCH)
            if expired:
                await desk.release_stock(expired)
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
        async with self.repository.transaction() as uow:
            if not await uow.claim_event(self.settings.consumer_group, event.id):
                return
            outcome = await uow.retire_item(product_id)
        log.info("inventory.product_deleted", product_id=product_id, outcome=outcome)

    async def handle_order_event(self, event: CloudEvent) -> None:
        """Apply an order event, parsed with its contract (data that breaks it raises and is
        dead-lettered after the consumer's retries)."""
        target = order_action(event, self.settings)
        if target is None:
            log.info("order_event.ignored", event_id=event.id, type=event.type)
            return
        order_id, action = target
        if action == "confirm":
            await self._confirm_for_event(event, order_id)
            return
        async with self.repository.reservations() as desk:
            if not await desk.claim_event(self.settings.consumer_group, event.id):
                log.info("order_event.duplicate_skipped", event_id=event.id)
                return
            if not await desk.has_reservation(order_id):
                log.info("order_event.no_reservation", order_id=str(order_id), type=event.type)
                return
            if action == "release":
                await self._release(desk, order_id)
            else:
                await self._ship(desk, order_id)

    async def _confirm_for_event(self, event: CloudEvent, order_id: uuid.UUID) -> None:
        """order-placed. Recovery path: the order is committed, so its reservation must not
        expire even if order-service crashed before confirming it. Usually order-service has
        confirmed it already: then the inbox mark is the only write, in one statement."""
        async with self.repository.reservation_statements() as desk:
            outcome = await desk.claim_event_and_move_reservation(
                self.settings.consumer_group,
                event.id,
                order_id,
                [ReservationStatus.HELD],
                ReservationStatus.CONFIRMED,
                only_unexpired=True,
            )
            if not outcome.claimed:
                log.info("order_event.duplicate_skipped", event_id=event.id)
                return
            if outcome.moved or outcome.seen_status in _CONFIRMED_OR_LATER:
                return
            # Not confirmable as the statement saw it: read it anew (a change that committed
            # meanwhile is visible now) to say why.
            reservation = await desk.get_reservation(order_id)
        if reservation is None:
            log.info("order_event.no_reservation", order_id=str(order_id), type=event.type)
        elif reservation.status not in _CONFIRMED_OR_LATER:
            log.warning(
                "reservation.confirm_too_late",
                reservation_id=str(order_id),
                status=reservation.status.value,
            )

    # -- internals ------------------------------------------------------------------------

    async def _confirm(self, desk: ReservationDesk, reservation_id: uuid.UUID) -> Reservation:
        """HELD and unexpired → CONFIRMED; already confirmed (or shipped) is fine; 404 when
        unknown, 409 once expired or released."""
        moved = await desk.move_reservation(
            reservation_id,
            [ReservationStatus.HELD],
            ReservationStatus.CONFIRMED,
            only_unexpired=True,
        )
        if moved is not None:
            return moved
        reservation = await self._load_reservation(desk, reservation_id)
        if reservation.status in _CONFIRMED_OR_LATER:
            return reservation
        state = (
            "has expired"
            if reservation.status == ReservationStatus.HELD
            else (f"is {reservation.status.value.lower()}")
        )
        raise Conflict(f"Reservation {reservation_id} {state} and can no longer be confirmed")

    async def _release(self, desk: ReservationDesk, reservation_id: uuid.UUID) -> Reservation:
        released = await desk.move_reservation(
            reservation_id,
            [ReservationStatus.HELD, ReservationStatus.CONFIRMED],
            ReservationStatus.RELEASED,
        )
        if released is not None:
            await desk.release_stock([reservation_id])
            log.info("reservation.released", reservation_id=str(reservation_id))
            return released
        reservation = await self._load_reservation(desk, reservation_id)
        if reservation.status == ReservationStatus.COMMITTED:
            raise Conflict(f"Reservation {reservation_id} has shipped and cannot be released")
        return reservation

    async def _ship(self, desk: ReservationDesk, reservation_id: uuid.UUID) -> None:
        if await desk.move_reservation(
            reservation_id,
            [ReservationStatus.HELD, ReservationStatus.CONFIRMED],
            ReservationStatus.COMMITTED,
        ):
            await desk.ship_stock([reservation_id])
            log.info("reservation.committed", reservation_id=str(reservation_id))
        else:
            log.warning("reservation.ship_skipped", reservation_id=str(reservation_id))

    async def _load_reservation(
        self, desk: ReservationDesk, reservation_id: uuid.UUID
    ) -> Reservation:
        reservation = await desk.get_reservation(reservation_id)
        if reservation is None:
            raise _reservation_not_found(reservation_id)
        return reservation

    async def _why_unavailable(self, uow: InventoryUnitOfWork, product_id: str) -> Exception:
        item = await uow.get_item(product_id)
        return _not_found(product_id) if item is None else _insufficient(item.product_name)

    async def _alert_if_low(
        self,
        uow: InventoryUnitOfWork | ReservationDesk,
        item: InventoryItem,
        *,
        previous_available: int,
    ) -> None:
        """Emit inventory-low once, when available stock crosses below the item's threshold."""
        available, threshold = item.available_qty, item.low_stock_threshold
        if not available < threshold <= previous_available:
            return
        topic = self.settings.topic_inventory_low
        event = INVENTORY_LOW.event(
            InventoryLow(
                product_id=item.product_id,
                product_name=item.product_name,
                available_qty=available,
                threshold=threshold,
            ),
            source=self.settings.service_name,
            subject=item.product_id,
            event_type=topic,
        )
        await uow.enqueue(topic, event, key=item.product_id)
        log.info("inventory.low", product_id=item.product_id, available_qty=available)


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
