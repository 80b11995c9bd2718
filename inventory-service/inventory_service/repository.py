"""Every query inventory-service runs. Stock moves only through single conditional UPDATEs, so
concurrent requests can never oversell: the WHERE clause is the check and the write at once."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.models import ReservationStatus, inventory, reservation_items, reservations

Row = RowMapping

_available = inventory.c.quantity - inventory.c.reserved_qty


async def insert_item(
    session: AsyncSession, product_id: str, product_name: str, quantity: int, threshold: int
) -> Row | None:
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
    return (await session.execute(stmt)).mappings().first()


# The hottest read (GET /api/inventory/{id}, stock checks) runs on the pooled connection's own
# asyncpg connection: one round trip, a statement prepared once per connection, no session.
_GET_ITEM_SQL = (
    f"SELECT {', '.join(column.name for column in inventory.c)} "
    f"FROM {inventory.name} WHERE product_id = $1"
)


async def fetch_item(connection: Any, product_id: str) -> Mapping[str, Any] | None:
    """`connection`: an asyncpg connection (chassis.postgres.driver_connection)."""
    row: Mapping[str, Any] | None = await connection.fetchrow(_GET_ITEM_SQL, product_id)
    return row


async def get_item(session: AsyncSession, product_id: str) -> Row | None:
    stmt = sa.select(inventory).where(inventory.c.product_id == product_id)
    return (await session.execute(stmt)).mappings().first()


async def list_items(session: AsyncSession, limit: int, offset: int) -> Sequence[Row]:
    stmt = (
        sa.select(inventory)
        .order_by(inventory.c.created_at, inventory.c.id)
        .limit(limit)
        .offset(offset)
    )
    return (await session.execute(stmt)).mappings().all()


async def count_items(session: AsyncSession) -> int:
    """How many items list_items pages through (X-Total-Count)."""
    stmt = sa.select(sa.func.count()).select_from(inventory)
    return int((await session.execute(stmt)).scalar_one())


async def take_stock(session: AsyncSession, product_id: str, quantity: int) -> Row | None:
    """/reduce: lower quantity if that many are available (not reserved). None otherwise."""
    stmt = (
        sa.update(inventory)
        .where(inventory.c.product_id == product_id, _available >= quantity)
        .values(quantity=inventory.c.quantity - quantity, updated_at=sa.func.now())
        .returning(inventory)
    )
    return (await session.execute(stmt)).mappings().first()


async def add_stock(session: AsyncSession, product_id: str, quantity: int) -> Row | None:
    stmt = (
        sa.update(inventory)
        .where(inventory.c.product_id == product_id)
        .values(quantity=inventory.c.quantity + quantity, updated_at=sa.func.now())
        .returning(inventory)
    )
    return (await session.execute(stmt)).mappings().first()


async def update_item(
    session: AsyncSession, product_id: str, changes: Mapping[str, Any]
) -> Row | None:
    """PUT. A new quantity must still cover what is reserved. Returns the new row plus the
    available stock before the change (`previous_available`), or None when the condition fails."""
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
    return (await session.execute(stmt)).mappings().first()


async def delete_unreserved_item(session: AsyncSession, product_id: str) -> bool:
    stmt = (
        sa.delete(inventory)
        .where(inventory.c.product_id == product_id, inventory.c.reserved_qty == 0)
        .returning(inventory.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def retire_item(session: AsyncSession, product_id: str) -> str:
    """The catalog deleted the product: delete its row when nothing is reserved, else leave
    only the reserved units (no new reservation can take any). Returns what was done."""
    if await delete_unreserved_item(session, product_id):
        return "deleted"
    stmt = (
        sa.update(inventory)
        .where(inventory.c.product_id == product_id)
        .values(quantity=inventory.c.reserved_qty, updated_at=sa.func.now())
        .returning(inventory.c.reserved_qty)
    )
    row = (await session.execute(stmt)).first()
    return "absent" if row is None else "emptied"


async def available_stock(session: AsyncSession, product_ids: Iterable[str]) -> dict[str, int]:
    """A lock-free snapshot of available units; unknown products are absent."""
    stmt = sa.select(inventory.c.product_id, _available.label("available")).where(
        inventory.c.product_id.in_(list(product_ids))
    )
    return {row.product_id: row.available for row in await session.execute(stmt)}


async def reserve_stock(session: AsyncSession, product_id: str, quantity: int) -> Row | None:
    """Set `quantity` units aside if that many are available. None otherwise."""
    stmt = (
        sa.update(inventory)
        .where(inventory.c.product_id == product_id, _available >= quantity)
        .values(reserved_qty=inventory.c.reserved_qty + quantity, updated_at=sa.func.now())
        .returning(inventory)
    )
    return (await session.execute(stmt)).mappings().first()


async def _apply_lines(
    session: AsyncSession, reservation_ids: Sequence[uuid.UUID], *, ship: bool
) -> None:
    """Give back (or, when shipping, consume) the stock held by these reservations: one UPDATE."""
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
    await session.execute(
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
    await session.execute(
        sa.update(inventory).where(inventory.c.product_id == held.c.product_id).values(**values)
    )


async def release_stock(session: AsyncSession, reservation_ids: Sequence[uuid.UUID]) -> None:
    await _apply_lines(session, reservation_ids, ship=False)


async def ship_stock(session: AsyncSession, reservation_ids: Sequence[uuid.UUID]) -> None:
    await _apply_lines(session, reservation_ids, ship=True)


async def insert_reservation(
    session: AsyncSession, reservation_id: uuid.UUID, expires_at: datetime
) -> Row | None:
    """The new row, or None when a reservation with this id exists (the caller is retrying)."""
    stmt = (
        insert(reservations)
        .values(id=reservation_id, status=ReservationStatus.HELD.value, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[reservations.c.id])
        .returning(reservations)
    )
    return (await session.execute(stmt)).mappings().first()


async def insert_reservation_lines(
    session: AsyncSession, reservation_id: uuid.UUID, lines: Mapping[str, int]
) -> None:
    await session.execute(
        insert(reservation_items),
        [
            {"reservation_id": reservation_id, "product_id": p, "quantity": q}
            for p, q in lines.items()
        ],
    )


async def get_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> Row | None:
    stmt = sa.select(reservations).where(reservations.c.id == reservation_id)
    return (await session.execute(stmt)).mappings().first()


async def get_reservation_lines(session: AsyncSession, reservation_id: uuid.UUID) -> dict[str, int]:
    stmt = (
        sa.select(reservation_items.c.product_id, reservation_items.c.quantity)
        .where(reservation_items.c.reservation_id == reservation_id)
        .order_by(reservation_items.c.product_id)
    )
    return {row.product_id: row.quantity for row in await session.execute(stmt)}


async def move_reservation(
    session: AsyncSession,
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
    return (await session.execute(stmt)).first() is not None


async def expire_due_reservations(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Mark up to `limit` overdue held reservations EXPIRED. SKIP LOCKED lets several replicas
    sweep at once without waiting on (or double-expiring) each other's rows."""
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
    return list((await session.execute(stmt)).scalars().all())
