"""Every query order-service runs, and the only module of it that speaks SQLAlchemy or asyncpg.

`OrderRepository` owns the pool and hands out `OrderUnitOfWork`s (one session each, one
transaction in `transaction()`) and, for the hottest write (placing an order), an
`OrderPlacement` (one transaction on the pooled asyncpg connection: no session, no statement
compilation, `INSERT ... RETURNING` instead of reading back). Their methods return domain
objects (`Order`, `IdempotencyRecord`) and turn the driver's errors into the domain's
(`OrderNumberTaken`)."""

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from chassis.postgres import Database, DriverUnitOfWork, UnitOfWork, constraint_name
from order_service.models import OrderStatus, idempotency_keys, order_items, orders, outbox
from order_service.schemas import Order, OrderItem

ORDER_NUMBER_CONSTRAINT = "uq_orders_order_number"


class OrderNumberTaken(Exception):
    """The random order number is already another order's (the transaction is void: retry it
    whole with a new number)."""


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an Idempotency-Key committed: the hash of its request and the order it made."""

    request_hash: str
    order_id: uuid.UUID


def _order(row: Mapping[Any, Any], items: Sequence[Mapping[Any, Any]]) -> Order:
    return Order(
        id=row["id"],
        order_number=row["order_number"],
        customer_name=row["customer_name"],
        customer_email=row["customer_email"],
        total_amount=row["total_amount"],
        status=OrderStatus(row["status"]),
        items=[
            OrderItem(
                id=item["id"],
                product_id=item["product_id"],
                product_name=item["product_name"],
                quantity=item["quantity"],
                unit_price=item["unit_price"],
                total_price=item["total_price"],
            )
            for item in items
        ],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class OrderUnitOfWork(UnitOfWork):
    """order-service's queries in one session; `enqueue` (chassis) writes its outbox."""

    outbox = outbox

    async def get_order(self, order_id: uuid.UUID) -> Order | None:
        stmt = sa.select(orders).where(orders.c.id == order_id)
        row = (await self.session.execute(stmt)).mappings().first()
        if row is None:
            return None
        return _order(row, (await self._items([order_id]))[order_id])

    async def lock_status(self, order_id: uuid.UUID) -> OrderStatus | None:
        """The order's status, its row locked until the transaction ends; None when absent."""
        stmt = sa.select(orders.c.status).where(orders.c.id == order_id).with_for_update()
        status = (await self.session.execute(stmt)).scalar_one_or_none()
        return None if status is None else OrderStatus(status)

    async def list_orders(
        self, limit: int, offset: int, *, email: str | None = None
    ) -> list[Order]:
        """Newest first."""
        stmt = sa.select(orders)
        if email is not None:
            stmt = stmt.where(sa.func.lower(orders.c.customer_email) == email.lower())
        stmt = (
            stmt.order_by(orders.c.created_at.desc(), orders.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.session.execute(stmt)).mappings().all()
        items = await self._items([row["id"] for row in rows])
        return [_order(row, items[row["id"]]) for row in rows]

    async def count_orders(self, *, email: str | None = None) -> int:
        """How many orders list_orders pages through (X-Total-Count)."""
        stmt = sa.select(sa.func.count()).select_from(orders)
        if email is not None:
            stmt = stmt.where(sa.func.lower(orders.c.customer_email) == email.lower())
        return int((await self.session.execute(stmt)).scalar_one())

    async def set_status(self, order_id: uuid.UUID, status: OrderStatus) -> Order:
        stmt = (
            sa.update(orders)
            .where(orders.c.id == order_id)
            .values(status=status.value, updated_at=sa.func.clock_timestamp())
            .returning(orders)
        )
        row = (await self.session.execute(stmt)).mappings().one()
        return _order(row, (await self._items([order_id]))[order_id])

    async def get_idempotency_key(self, key: str) -> IdempotencyRecord | None:
        stmt = sa.select(idempotency_keys.c.request_hash, idempotency_keys.c.order_id).where(
            idempotency_keys.c.key == key
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else IdempotencyRecord(row.request_hash, row.order_id)

    async def _items(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[RowMapping]]:
        """Lines of each order, in the order the customer gave them."""
        found: dict[uuid.UUID, list[RowMapping]] = {order_id: [] for order_id in order_ids}
        if not order_ids:
            return found
        stmt = (
            sa.select(order_items)
            .where(order_items.c.order_id.in_(list(order_ids)))
            .order_by(order_items.c.order_id, order_items.c.line_no)
        )
        for row in (await self.session.execute(stmt)).mappings():
            found[row["order_id"]].append(row)
        return found


def _columns(table: sa.Table) -> str:
    return ", ".join(column.name for column in table.c)


_CLAIM_KEY_SQL = (
    f"INSERT INTO {idempotency_keys.name} (key, request_hash, order_id) VALUES ($1, $2, $3) "
    "ON CONFLICT (key) DO NOTHING RETURNING key"
)
_INSERT_ORDER_SQL = (
    f"INSERT INTO {orders.name} "
    "(id, order_number, customer_name, customer_email, total_amount, status) "
    f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_columns(orders)}"
)
# Every line in one statement (arrays unnested in line order), each returned as stored.
_INSERT_ITEMS_SQL = (
    f"INSERT INTO {order_items.name} "
    "(order_id, line_no, product_id, product_name, quantity, unit_price, total_price) "
    "SELECT $1, * FROM unnest($2::smallint[], $3::text[], $4::text[], $5::integer[], "
    f"$6::numeric[], $7::numeric[]) RETURNING {_columns(order_items)}"
)


class OrderPlacement(DriverUnitOfWork):
    """The transaction that commits a placed order (`OrderRepository.placement()`): the
    Idempotency-Key, the order, its lines and (`enqueue`, chassis) its outbox row, on the
    pooled asyncpg connection."""

    outbox = outbox

    async def claim_idempotency_key(self, key: str, request_hash: str, order_id: uuid.UUID) -> bool:
        """True when this transaction now owns `key`. A concurrent owner makes this wait for its
        commit (then False) or rollback (then True)."""
        return (
            await self.connection.fetchval(_CLAIM_KEY_SQL, key, request_hash, order_id) is not None
        )

    async def insert_order(
        self,
        *,
        order_id: uuid.UUID,
        order_number: str,
        customer_name: str,
        customer_email: str,
        total_amount: Decimal,
        status: OrderStatus,
        lines: Sequence[dict[str, Any]],
    ) -> Order:
        """The order and its lines, as stored. Raises OrderNumberTaken on a taken number."""
        try:
            row = await self.connection.fetchrow(
                _INSERT_ORDER_SQL,
                order_id,
                order_number,
                customer_name,
                customer_email,
                total_amount,
                status.value,
            )
        except asyncpg.UniqueViolationError as exc:
            if constraint_name(exc) == ORDER_NUMBER_CONSTRAINT:
                raise OrderNumberTaken(order_number) from exc
            raise
        items = await self.connection.fetch(
            _INSERT_ITEMS_SQL,
            order_id,
            list(range(len(lines))),
            [line["product_id"] for line in lines],
            [line["product_name"] for line in lines],
            [line["quantity"] for line in lines],
            [line["unit_price"] for line in lines],
            [line["total_price"] for line in lines],
        )
        return _order(row, sorted(items, key=lambda item: item["line_no"]))


class OrderRepository(Database[OrderUnitOfWork]):
    """order-service's PostgreSQL: `transaction()` and `session()` yield an OrderUnitOfWork,
    `placement()` the OrderPlacement."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, OrderUnitOfWork)

    def placement(self) -> AbstractAsyncContextManager[OrderPlacement]:
        return self.driver_transaction(OrderPlacement)
