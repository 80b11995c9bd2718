"""Every query inventory-service runs, and the only module of it that speaks SQLAlchemy or
asyncpg. Stock moves only through single conditional UPDATEs, so concurrent requests can never
oversell: the WHERE clause is the check and the write at once.

`InventoryRepository` owns the pool and hands out `InventoryUnitOfWork`s (one session each, one
transaction in `transaction()`) for the stock items, and `ReservationDesk`s for the reservations
and the order events (the hot path of every order: SQL on the pooled asyncpg connection, no
session, no statement compilation, a whole reservation in one statement). Their methods return
domain objects (`InventoryItem`, `Reservation`), never driver rows."""

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from chassis.inbox import driver_claim_sql
from chassis.postgres import Database, DriverUnitOfWork, UnitOfWork
from inventory_service.models import (
    ReservationStatus,
    inventory,
    outbox,
    processed_events,
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

    async def _one_item(self, stmt: Any) -> InventoryItem | None:
        row = (await self.session.execute(stmt)).mappings().first()
        return None if row is None else _item(row)


# -- reservations: SQL on the pooled asyncpg connection ------------------------------------


def _columns(table: sa.Table, alias: str, prefix: str = "") -> str:
    return ", ".join(f"{alias}.{c.name} AS {prefix}{c.name}" for c in table.c)


_HELD = ReservationStatus.HELD.value
# Runs of a reservation statement that PostgreSQL aborted as a deadlock's victim.
DEADLOCK_ATTEMPTS = 3
_RESERVATION_COLUMNS = _columns(reservations, "r")

# One statement for a whole reservation, all or nothing by itself (so it needs no transaction).
# A lock-free look at the stock first (fail fast, without queueing on the row locks when stock
# is visibly short); then the rows are locked in product_id order (no deadlock between
# multi-item reservations; every other locker uses the same order) and the verdict is taken on
# the locked, newest row versions: every line fits, and (unless $5, the caller's transaction
# can enqueue the alert) no line would cross below its low-stock threshold. Only then the
# reservation row (ON CONFLICT: a retry inserts nothing, a concurrent twin waits for the first
# one's commit), its lines and the conditional UPDATE of each row, which stays the authority
# against overselling. One row per requested line, the reservation's columns on each.
# A retry of a reservation that already exists locks nothing: a release of it locks the
# reservation row and then the stock rows, the other way round, and the two deadlocked. (A
# retry racing its own first attempt and a release at once still can: PostgreSQL then aborts
# one statement, and `reserve` runs it again.)
_RESERVE_SQL = f"""
WITH wanted AS (
    SELECT w.product_id, w.quantity, i.product_name AS seen_name,
           i.quantity - i.reserved_qty AS seen_available
    FROM unnest($3::text[], $4::bigint[]) AS w(product_id, quantity)
    LEFT JOIN (SELECT * FROM {inventory.name} WHERE product_id = ANY($3::text[])) i
        ON i.product_id = w.product_id
), visible AS (
    SELECT NOT EXISTS (
        SELECT 1 FROM wanted WHERE seen_available IS NULL OR seen_available < quantity
    ) AND NOT EXISTS (SELECT 1 FROM {reservations.name} WHERE id = $1) AS ok
), locked AS (
    SELECT i.id, i.product_id, i.quantity - i.reserved_qty AS available,
           i.low_stock_threshold AS threshold
    FROM {inventory.name} i
    WHERE i.product_id = ANY($3::text[]) AND (SELECT ok FROM visible)
    ORDER BY i.product_id
    FOR UPDATE
), verdict AS (
    SELECT count(*) FILTER (WHERE l.available >= w.quantity) = count(*) AS fits,
           coalesce(bool_or(l.available - w.quantity < l.threshold
                            AND l.threshold <= l.available), false) AS alert
    FROM wanted w LEFT JOIN locked l ON l.product_id = w.product_id
), res AS (
    INSERT INTO {reservations.name} (id, status, expires_at)
    SELECT $1, '{_HELD}', $2 FROM verdict WHERE fits AND (NOT alert OR $5)
    ON CONFLICT (id) DO NOTHING
    RETURNING {", ".join(c.name for c in reservations.c)}
), lines AS (
    INSERT INTO {reservation_items.name} (reservation_id, product_id, quantity)
    SELECT res.id, wanted.product_id, wanted.quantity FROM res, wanted
), taken AS (
    UPDATE {inventory.name} i
    SET reserved_qty = i.reserved_qty + w.quantity, updated_at = now()
    FROM locked JOIN wanted w ON w.product_id = locked.product_id
    WHERE i.id = locked.id AND i.product_id = ANY($3::text[])
      AND i.quantity - i.reserved_qty >= w.quantity AND EXISTS (SELECT 1 FROM res)
    RETURNING {_columns(inventory, "i", "item_")}
)
SELECT {_RESERVATION_COLUMNS}, w.product_id AS line_product_id, w.quantity AS line_quantity,
       w.seen_name, w.seen_available, locked.id IS NOT NULL AS locked,
       locked.available AS locked_available, verdict.fits, verdict.alert, t.*
FROM wanted w CROSS JOIN verdict LEFT JOIN res r ON true
LEFT JOIN locked ON locked.product_id = w.product_id
LEFT JOIN taken t ON t.item_product_id = w.product_id
"""

_GET_RESERVATION_SQL = (
    f"SELECT {_RESERVATION_COLUMNS}, l.product_id, l.quantity "
    f"FROM {reservations.name} r "
    f"LEFT JOIN {reservation_items.name} l ON l.reservation_id = r.id WHERE r.id = $1"
)
_HAS_RESERVATION_SQL = f"SELECT EXISTS (SELECT 1 FROM {reservations.name} WHERE id = $1)"


def _move_sql(*, only_unexpired: bool) -> str:
    """The conditional status change and the moved reservation with its lines, one statement."""
    unexpired = " AND expires_at > now()" if only_unexpired else ""
    return (
        f"WITH r AS (UPDATE {reservations.name} SET status = $2, updated_at = now() "
        f"WHERE id = $1 AND status = ANY($3::text[]){unexpired} "
        f"RETURNING {', '.join(c.name for c in reservations.c)}) "
        f"SELECT {_RESERVATION_COLUMNS}, l.product_id, l.quantity FROM r "
        f"LEFT JOIN {reservation_items.name} l ON l.reservation_id = r.id"
    )


_MOVE_SQL = {flag: _move_sql(only_unexpired=flag) for flag in (False, True)}


def _claim_and_move_sql(*, only_unexpired: bool) -> str:
    """An event's inbox mark and the status change it asks for, one statement (so atomic
    without a transaction): the move happens only if the mark is new. Also the reservation's
    status as this statement's snapshot saw it (NULL: none)."""
    unexpired = " AND expires_at > now()" if only_unexpired else ""
    return (
        f"WITH claimed AS ({driver_claim_sql(processed_events.name)}), "
        f"moved AS (UPDATE {reservations.name} SET status = $4, updated_at = now() "
        f"WHERE id = $3 AND status = ANY($5::text[]){unexpired} "
        "AND EXISTS (SELECT 1 FROM claimed) RETURNING id) "
        "SELECT EXISTS (SELECT 1 FROM claimed) AS claimed, "
        "EXISTS (SELECT 1 FROM moved) AS moved, "
        f"(SELECT status FROM {reservations.name} WHERE id = $3) AS seen_status"
    )


_CLAIM_AND_MOVE_SQL = {flag: _claim_and_move_sql(only_unexpired=flag) for flag in (False, True)}


def _give_back_sql(*, ship: bool) -> str:
    """Give back (or, when shipping, consume) the units these reservations hold: the rows
    locked in product_id order first (as a reservation locks them), then one UPDATE."""
    shipped = "quantity = i.quantity - locked.qty, " if ship else ""
    return f"""
WITH held AS (
    SELECT product_id, sum(quantity) AS qty FROM {reservation_items.name}
    WHERE reservation_id = ANY($1::uuid[]) GROUP BY product_id
), locked AS (
    SELECT i.id, held.qty FROM {inventory.name} i JOIN held ON held.product_id = i.product_id
    ORDER BY i.product_id
    FOR UPDATE OF i
)
UPDATE {inventory.name} i
SET {shipped}reserved_qty = i.reserved_qty - locked.qty, updated_at = now()
FROM locked WHERE i.id = locked.id
"""


_GIVE_BACK_SQL = {flag: _give_back_sql(ship=flag) for flag in (False, True)}

# SKIP LOCKED lets several replicas sweep at once without waiting on (or double-expiring) each
# other's rows.
_EXPIRE_DUE_SQL = f"""
UPDATE {reservations.name} SET status = '{ReservationStatus.EXPIRED.value}', updated_at = now()
WHERE id IN (
    SELECT id FROM {reservations.name}
    WHERE status = '{_HELD}' AND expires_at <= now()
    ORDER BY expires_at LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def _reservation_from_rows(rows: Sequence[Mapping[str, Any]]) -> Reservation | None:
    """A reservation read with its lines (one row per line, `product_id` and `quantity`)."""
    if not rows:
        return None
    lines = {row["product_id"]: row["quantity"] for row in rows if row["product_id"] is not None}
    return _reservation(rows[0], lines)


@dataclass(frozen=True)
class Reserved:
    """What `ReservationDesk.reserve` did. Either it wrote the `reservation`, and `taken` lists
    each line's item as it now reads with the units it took; or it wrote nothing, and then
    (a reservation with this id may exist already: the caller is retrying) `short` names the
    first line (in product_id order) that cannot be held, with its product's name (None: no
    such product), or `needs_alerts` says that a line would cross below its low-stock
    threshold and the caller did not allow alerts (reserve again in a transaction that
    enqueues them)."""

    reservation: Reservation | None
    taken: list[tuple[InventoryItem, int]]
    short: tuple[str, str | None] | None = None
    needs_alerts: bool = False


@dataclass(frozen=True)
class EventMove:
    """What `ReservationDesk.claim_event_and_move_reservation` did: whether the event was new
    (`claimed`), whether the reservation moved, and its status as the statement's snapshot saw
    it, before the move (None: no such reservation, as far as that snapshot knew)."""

    claimed: bool
    moved: bool
    seen_status: ReservationStatus | None


class ReservationDesk(DriverUnitOfWork):
    """Reservations and the order events on the pooled asyncpg connection
    (`InventoryRepository.reservations()`, `reservation_statements()`): each statement prepared
    once per connection, a whole reservation in one round trip; `enqueue` and `claim_event`
    (chassis) write the outbox and the inbox in the same transaction."""

    outbox = outbox

    async def reserve(
        self,
        reservation_id: uuid.UUID,
        expires_at: datetime,
        lines: Mapping[str, int],
        *,
        alerts_allowed: bool,
    ) -> Reserved:
        """Insert the HELD reservation with its lines and hold every line's units, all or
        nothing, in one statement; or (see Reserved) say why not. `alerts_allowed`: the caller
        runs a transaction and enqueues inventory-low for the lines that cross their
        threshold; without it, such a reservation writes nothing and says `needs_alerts`."""
        product_ids = list(lines)
        arguments = (reservation_id, expires_at, product_ids, [lines[p] for p in product_ids])
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                rows = await self.connection.fetch(_RESERVE_SQL, *arguments, alerts_allowed)
                break
            except asyncpg.exceptions.DeadlockDetectedError:
                # The statement was aborted whole. On its own it is simply run again; inside
                # the caller's transaction that transaction is gone: the error goes up (a 503
                # with Retry-After, chassis.dependencies).
                if attempt == DEADLOCK_ATTEMPTS or self.connection.is_in_transaction():
                    raise
        rows = sorted(rows, key=lambda row: row["line_product_id"])
        if rows[0]["id"] is not None:
            # Under the row locks the verdict cannot be wrong; were it ever, say so loudly.
            if any(row["item_id"] is None for row in rows):
                raise RuntimeError(f"reservation {reservation_id}: a fitting line was not held")
            taken = [
                (_item({c.name: row[f"item_{c.name}"] for c in inventory.c}), row["line_quantity"])
                for row in rows
            ]
            return Reserved(_reservation(rows[0], lines), taken)
        if rows[0]["fits"]:
            return Reserved(None, [], needs_alerts=rows[0]["alert"] and not alerts_allowed)
        # Visibly short in the snapshot (nothing was locked), else short once locked (the
        # product may have gone meanwhile: not locked).
        for row in rows:
            available = row["seen_available"]
            if available is None or available < row["line_quantity"]:
                return Reserved(None, [], (row["line_product_id"], row["seen_name"]))
        for row in rows:
            available = row["locked_available"]
            if available is None or available < row["line_quantity"]:
                name = row["seen_name"] if row["locked"] else None
                return Reserved(None, [], (row["line_product_id"], name))
        raise AssertionError("a reservation that fits was neither written nor refused")

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation | None:
        rows = await self.connection.fetch(_GET_RESERVATION_SQL, reservation_id)
        return _reservation_from_rows(rows)

    async def has_reservation(self, reservation_id: uuid.UUID) -> bool:
        return bool(await self.connection.fetchval(_HAS_RESERVATION_SQL, reservation_id))

    async def move_reservation(
        self,
        reservation_id: uuid.UUID,
        from_statuses: Sequence[ReservationStatus],
        to_status: ReservationStatus,
        *,
        only_unexpired: bool = False,
    ) -> Reservation | None:
        """Conditional status change: exactly one of two racing transitions wins. The moved
        reservation as it now reads, or None when it did not move (absent, or in another
        status)."""
        rows = await self.connection.fetch(
            _MOVE_SQL[only_unexpired],
            reservation_id,
            to_status.value,
            [s.value for s in from_statuses],
        )
        return _reservation_from_rows(rows)

    async def claim_event_and_move_reservation(
        self,
        consumer: str,
        event_id: str,
        reservation_id: uuid.UUID,
        from_statuses: Sequence[ReservationStatus],
        to_status: ReservationStatus,
        *,
        only_unexpired: bool = False,
    ) -> EventMove:
        """`claim_event` and then, only if the event is new, `move_reservation`, as one
        statement (atomic on its own: no transaction needed)."""
        row = await self.connection.fetchrow(
            _CLAIM_AND_MOVE_SQL[only_unexpired],
            consumer,
            event_id,
            reservation_id,
            to_status.value,
            [s.value for s in from_statuses],
        )
        seen = row["seen_status"]
        return EventMove(
            claimed=row["claimed"],
            moved=row["moved"],
            seen_status=None if seen is None else ReservationStatus(seen),
        )

    async def release_stock(self, reservation_ids: Sequence[uuid.UUID]) -> None:
        await self.connection.execute(_GIVE_BACK_SQL[False], list(reservation_ids))

    async def ship_stock(self, reservation_ids: Sequence[uuid.UUID]) -> None:
        await self.connection.execute(_GIVE_BACK_SQL[True], list(reservation_ids))

    async def expire_due_reservations(self, limit: int) -> list[uuid.UUID]:
        """Mark up to `limit` overdue held reservations EXPIRED; their ids."""
        return [row["id"] for row in await self.connection.fetch(_EXPIRE_DUE_SQL, limit)]


class InventoryRepository(Database[InventoryUnitOfWork]):
    """inventory-service's PostgreSQL: `transaction()` and `session()` yield an
    InventoryUnitOfWork, `reservations()` a ReservationDesk in one transaction and
    `reservation_statements()` one whose statements each commit on their own; `fetch_item` is
    the fast read path."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, InventoryUnitOfWork)

    def reservations(self) -> AbstractAsyncContextManager[ReservationDesk]:
        """One transaction on the asyncpg connection: committed when the block ends, rolled
        back when it raises."""
        return self.driver_transaction(ReservationDesk)

    @asynccontextmanager
    async def reservation_statements(self) -> AsyncIterator[ReservationDesk]:
        """No transaction: each statement commits on its own (no BEGIN/COMMIT round trips), for
        a use case that writes in one statement and then only reads."""
        async with self.driver_connection() as connection:
            yield ReservationDesk(connection)

    async def fetch_item(self, product_id: str) -> InventoryItem | None:
        """One item, outside any transaction, on the pooled asyncpg connection
        (chassis.postgres.driver_connection)."""
        async with self.driver_connection() as connection:
            row: Mapping[str, Any] | None = await connection.fetchrow(_GET_ITEM_SQL, product_id)
        return None if row is None else _item(row)
