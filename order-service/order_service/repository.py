"""Every query order-service runs, and the only module of it that speaks SQLAlchemy.

`OrderRepository` owns the pool and hands out `OrderUnitOfWork`s (one session each, one
transaction in `transaction()`); their methods return domain objects (`Order`,
`IdempotencyRecord`) and turn the driver's errors into the domain's (`OrderNumberTaken`)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from chassis.postgres import Database, UnitOfWork, constraint_name
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


def _order(row: RowMapping, items: Sequence[RowMapping]) -> Order:
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
            row = (
                (
                    await self.session.execute(
                        sa.insert(orders)
                        .values(
                            id=order_id,
                            order_number=order_number,
                            customer_name=customer_name,
                            customer_email=customer_email,
                            total_amount=total_amount,
                            status=status.value,
                        )
                        .returning(orders)
                    )
                )
                .mappings()
                .one()
            )
        except IntegrityError as exc:
            if constraint_name(exc) == ORDER_NUMBER_CONSTRAINT:
                raise OrderNumberTaken(order_number) from exc
            raise
        await self.session.execute(
            sa.insert(order_items),
            [{"order_id": order_id, "line_no": n, **line} for n, line in enumerate(lines)],
        )
        return _order(row, (await self._items([order_id]))[order_id])

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

    async def claim_idempotency_key(self, key: str, request_hash: str, order_id: uuid.UUID) -> bool:
        """True when this transaction now owns `key`. A concurrent owner makes this wait for its
        commit (then False) or rollback (then True)."""
        stmt = (
            insert(idempotency_keys)
            .values(key=key, request_hash=request_hash, order_id=order_id)
            .on_conflict_do_nothing(index_elements=[idempotency_keys.c.key])
            .returning(idempotency_keys.c.key)
        )
        return (await self.session.execute(stmt)).first() is not None

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


class OrderRepository(Database[OrderUnitOfWork]):
    """order-service's PostgreSQL: `transaction()` and `session()` yield an OrderUnitOfWork."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, OrderUnitOfWork)
