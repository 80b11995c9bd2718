"""Every query inventory-service runs, and the only module of it that speaks SQLAlchemy or
asyncpg. Stock moves only through single conditional UPDATEs, so concurrent requests can never
oversell: the WHERE clause is the check and the write at once.

`InventoryRepository` owns the pool and hands out `InventoryUnitOfWork`s (one session each, one
transaction in `transaction()`); their methods return domain objects (`InventoryItem`,
`Reservation`), never driver rows."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from chassis.postgres import Database, UnitOfWork
from inventory_service.models import (
    ReservationStatus,
    inventory,
    outbox,
    reservation_items,
    reservations,
)
from inventory_service.schemas import InventoryItem, Reservation, ReservationLine

_available = inventory.c.quantity - inventory.c.reserved_qty


def _item(row: Mapping[Any, Any]) -> InventoryItem:
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


def _reservation(row: Mapping[Any, Any], lines: Mapping[str, int]) -> Reservation:
    return Reservation(
        reservation_id=row["id"],
        status=ReservationStatus(row["status"]),
        items=[ReservationLine(product_id=p, quantity=q) for p, q in sorted(lines.items())],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# The hottest read (GET /api/inventory/{id}, stock checks) runs on the pooled connection's own
# asyncpg connection: one round trip, a statement prepared once per connection, no session.
_GET_ITEM_SQL = (
    f"SELECT {', '.join(column.name for column in inventory.c)} "
    f"FROM {inventory.name} WHERE product_id = $1"
)


class InventoryUnitOfWork(UnitOfWork):
    """inventory-service's queries in one session; `enqueue` and `claim_event` (chassis) write
    its outbox and inbox in the same transaction."""

    outbox = outbox

    async def insert_item(
        self, product_id: str, product_name: str, quantity: int, threshold: int
    ) -> InventoryItem | None:
        """None when the product already has a row."""
        stmt = (
            insert(inventory)
            .values(
                product_id=product_id,
                product_name=product_name,
                quantity=quantity,
                low_stock_threshold=threshold,
            )
            .on_conflict_do_nothing(index_elements=[inventory.c.product_id])
            .returning(inventory)
        )
        return await self._one_item(stmt)

    async def get_item(self, product_id: str) -> InventoryItem | None:
        return await self._one_item(
            sa.select(inventory).where(inventory.c.product_id == product_id)
        )

    async def list_items(self, limit: int, offset: int) -> list[InventoryItem]:
        stmt = (
            sa.select(inventory)
            .order_by(inventory.c.created_at, inventory.c.id)
            .limit(limit)
            .offset(offset)
        )
        return [_item(row) for row in (await self.session.execute(stmt)).mappings()]

    async def count_items(self) -> int:
        """How many items list_items pages through (X-Total-Count)."""
        stmt = sa.select(sa.func.count()).select_from(inventory)
        return int((await self.session.execute(stmt)).scalar_one())

    async def take_stock(self, product_id: str, quantity: int) -> InventoryItem | None:
        """/reduce: lower quantity if that many are available (not reserved). None otherwise."""
        stmt = (
            sa.update(inventory)
            .where(inventory.c.product_id == product_id, _available >= quantity)
            .values(quantity=inventory.c.quantity - quantity, updated_at=sa.func.now())
            .returning(inventory)
        )
        return await self._one_item(stmt)

    async def add_stock(self, product_id: str, quantity: int) -> InventoryItem | None:
        stmt = (
            sa.update(inventory)
            .where(inventory.c.product_id == product_id)
            .values(quantity=inventory.c.quantity + quantity, updated_at=sa.func.now())
            .returning(inventory)
        )
        return await self._one_item(stmt)

    async def update_item(
        self, product_id: str, changes: Mapping[str, Any]
    ) -> tuple[InventoryItem, int] | None:
        """PUT. A new quantity must still cover what is reserved. Returns the new item and the
        available stock before the change, or None when the condition fails."""
        before = (
            sa.select(inventory.c.id, (_available).label("previous_available"))
            .where(inventory.c.product_id == product_id)
            .with_for_update()
            .subquery("before")
        )
        conditions = [inventory.c.id == before.c.id]
        if "quantity" in changes:
            conditions.append(inventory.c.reserved_qty <= changes["quantity"])
        stmt = (
            sa.update(inventory)
            .where(*conditions)
            .values(**changes, updated_at=sa.func.now())
            .returning(*inventory.c, before.c.previous_available)
        )
        row = (await self.session.execute(stmt)).mappings().first()
        return None if row is None else (_item(row), int(row["previous_available"]))

    async def delete_unreserved_item(self, product_id: str) -> bool:
        stmt = (
            sa.delete(inventory)
            .where(inventory.c.product_id == product_id, inventory.c.reserved_qty == 0)
            .returning(inventory.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def retire_item(self, product_id: str) -> str:
        """The catalog deleted the product: delete its row when nothing is reserved, else leave
        only the reserved units (no new reservation can take any). Returns what was done."""
        if await self.delete_unreserved_item(product_id):
            return "deleted"
        stmt = (
            sa.update(inventory)
            .where(inventory.c.product_id == product_id)
            .values(quantity=inventory.c.reserved_qty, updated_at=sa.func.now())
            .returning(inventory.c.reserved_qty)
        )
        row = (await self.session.execute(stmt)).first()
        return "absent" if row is None else "emptied"

    async def available_stock(self, product_ids: Iterable[str]) -> dict[str, int]:
        """A lock-free snapshot of available units; unknown products are absent."""
        stmt = sa.select(inventory.c.product_id, _available.label("available")).where(
            inventory.c.product_id.in_(list(product_ids))
        )
        return {row.product_id: row.available for row in await self.session.execute(stmt)}

    async def reserve_stock(self, product_id: str, quantity: int) -> InventoryItem | None:
        """Set `quantity` units aside if that many are available. None otherwise."""
        stmt = (
            sa.update(inventory)
            .where(inventory.c.product_id == product_id, _available >= quantity)
            .values(reserved_qty=inventory.c.reserved_qty + quantity, updated_at=sa.func.now())
            .returning(inventory)
        )
        return await self._one_item(stmt)

    async def release_stock(self, reservation_ids: Sequence[uuid.UUID]) -> None:
        await self._apply_lines(reservation_ids, ship=False)

    async def ship_stock(self, reservation_ids: Sequence[uuid.UUID]) -> None:
        await self._apply_lines(reservation_ids, ship=True)

    async def insert_reservation(
        self, reservation_id: uuid.UUID, expires_at: datetime, lines: Mapping[str, int]
    ) -> Reservation | None:
        """The new HELD reservation, as it reads once its `lines` are written
        (insert_reservation_lines, after the stock check); None when a reservation with this id
        exists (the caller is retrying)."""
        stmt = (
            insert(reservations)
            .values(id=reservation_id, status=ReservationStatus.HELD.value, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=[reservations.c.id])
            .returning(reservations)
        )
        row = (await self.session.execute(stmt)).mappings().first()
        return None if row is None else _reservation(row, lines)

    async def insert_reservation_lines(
        self, reservation_id: uuid.UUID, lines: Mapping[str, int]
    ) -> None:
        await self.session.execute(
            insert(reservation_items),
            [
                {"reservation_id": reservation_id, "product_id": p, "quantity": q}
                for p, q in lines.items()
            ],
        )

    async def has_reservation(self, reservation_id: uuid.UUID) -> bool:
        stmt = sa.select(reservations.c.id).where(reservations.c.id == reservation_id)
        return (await self.session.execute(stmt)).first() is not None

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation | None:
        stmt = sa.select(reservations).where(reservations.c.id == reservation_id)
        row = (await self.session.execute(stmt)).mappings().first()
        if row is None:
            return None
        lines_stmt = (
            sa.select(reservation_items.c.product_id, reservation_items.c.quantity)
            .where(reservation_items.c.reservation_id == reservation_id)
            .order_by(reservation_items.c.product_id)
        )
        lines = {line.product_id: line.quantity for line in await self.session.execute(lines_stmt)}
        return _reservation(row, lines)

    async def move_reservation(
        self,
        reservation_id: uuid.UUID,
        from_statuses: Sequence[ReservationStatus],
        to_status: ReservationStatus,
        *,
        only_unexpired: bool = False,
    ) -> bool:
        """Conditional status change: exactly one of two racing transitions wins."""
        conditions = [
            reservations.c.id == reservation_id,
            reservations.c.status.in_([s.value for s in from_statuses]),
        ]
        if only_unexpired:
            conditions.append(reservations.c.expires_at > sa.func.now())
        stmt = (
            sa.update(reservations)
            .where(*conditions)
            .values(status=to_status.value, updated_at=sa.func.now())
            .returning(reservations.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def expire_due_reservations(self, limit: int) -> list[uuid.UUID]:
        """Mark up to `limit` overdue held reservations EXPIRED. SKIP LOCKED lets several
        replicas sweep at once without waiting on (or double-expiring) each other's rows."""
        due = (
            sa.select(reservations.c.id)
            .where(
                reservations.c.status == ReservationStatus.HELD.value,
                reservations.c.expires_at <= sa.func.now(),
            )
            .order_by(reservations.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            sa.update(reservations)
            .where(reservations.c.id.in_(due))
            .values(status=ReservationStatus.EXPIRED.value, updated_at=sa.func.now())
            .returning(reservations.c.id)
        )
        return list((await self.session.execute(stmt)).scalars().all())

    async def _one_item(self, stmt: Any) -> InventoryItem | None:
        row = (await self.session.execute(stmt)).mappings().first()
        return None if row is None else _item(row)

    async def _apply_lines(self, reservation_ids: Sequence[uuid.UUID], *, ship: bool) -> None:
        """Give back (or, when shipping, consume) the stock held by these reservations: one
        UPDATE."""
        held = (
            sa.select(
                reservation_items.c.product_id,
                sa.func.sum(reservation_items.c.quantity).label("qty"),
            )
            .where(reservation_items.c.reservation_id.in_(reservation_ids))
            .group_by(reservation_items.c.product_id)
            .subquery("held")
        )
        # Lock the rows in product_id order first, the order reserve_stock callers use, so a
        # release racing a reservation waits instead of deadlocking.
        await self.session.execute(
            sa.select(inventory.c.id)
            .where(inventory.c.product_id.in_(sa.select(held.c.product_id)))
            .order_by(inventory.c.product_id)
            .with_for_update()
        )
        values: dict[str, Any] = {
            "reserved_qty": inventory.c.reserved_qty - held.c.qty,
            "updated_at": sa.func.now(),
        }
        if ship:
            values["quantity"] = inventory.c.quantity - held.c.qty
        await self.session.execute(
            sa.update(inventory).where(inventory.c.product_id == held.c.product_id).values(**values)
        )


class InventoryRepository(Database[InventoryUnitOfWork]):
    """inventory-service's PostgreSQL: `transaction()` and `session()` yield an
    InventoryUnitOfWork; `fetch_item` is the fast read path."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, InventoryUnitOfWork)

    async def fetch_item(self, product_id: str) -> InventoryItem | None:
        """One item, outside any transaction, on the pooled asyncpg connection
        (chassis.postgres.driver_connection)."""
        async with self.driver_connection() as connection:
            row: Mapping[str, Any] | None = await connection.fetchrow(_GET_ITEM_SQL, product_id)
        return None if row is None else _item(row)
