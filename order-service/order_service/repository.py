"""Every query order-service runs."""

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import RowMapping
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import OrderStatus, idempotency_keys, order_items, orders

Row = RowMapping


async def insert_order(
    session: AsyncSession,
    *,
    order_id: uuid.UUID,
    order_number: str,
    customer_name: str,
    customer_email: str,
    total_amount: Decimal,
    status: OrderStatus,
    lines: Sequence[dict[str, Any]],
) -> Row:
    """The order and its lines; raises IntegrityError on a taken order number."""
    row = (
        (
            await session.execute(
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
    await session.execute(
        sa.insert(order_items),
        [{"order_id": order_id, "line_no": n, **line} for n, line in enumerate(lines)],
    )
    return row


async def get_order(
    session: AsyncSession, order_id: uuid.UUID, *, lock: bool = False
) -> Row | None:
    stmt = sa.select(orders).where(orders.c.id == order_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).mappings().first()


async def list_orders(
    session: AsyncSession, limit: int, offset: int, *, email: str | None = None
) -> Sequence[Row]:
    """Newest first."""
    stmt = sa.select(orders)
    if email is not None:
        stmt = stmt.where(sa.func.lower(orders.c.customer_email) == email.lower())
    stmt = stmt.order_by(orders.c.created_at.desc(), orders.c.id.desc()).limit(limit).offset(offset)
    return (await session.execute(stmt)).mappings().all()


async def count_orders(session: AsyncSession, *, email: str | None = None) -> int:
    """How many orders list_orders pages through (X-Total-Count)."""
    stmt = sa.select(sa.func.count()).select_from(orders)
    if email is not None:
        stmt = stmt.where(sa.func.lower(orders.c.customer_email) == email.lower())
    return int((await session.execute(stmt)).scalar_one())


async def get_items(
    session: AsyncSession, order_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Row]]:
    """Lines of each order, in the order the customer gave them."""
    found: dict[uuid.UUID, list[Row]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return found
    stmt = (
        sa.select(order_items)
        .where(order_items.c.order_id.in_(list(order_ids)))
        .order_by(order_items.c.order_id, order_items.c.line_no)
    )
    for row in (await session.execute(stmt)).mappings():
        found[row["order_id"]].append(row)
    return found


async def set_status(session: AsyncSession, order_id: uuid.UUID, status: OrderStatus) -> Row:
    stmt = (
        sa.update(orders)
        .where(orders.c.id == order_id)
        .values(status=status.value, updated_at=sa.func.clock_timestamp())
        .returning(orders)
    )
    return (await session.execute(stmt)).mappings().one()


async def claim_idempotency_key(
    session: AsyncSession, key: str, request_hash: str, order_id: uuid.UUID
) -> bool:
    """True when this transaction now owns `key`. A concurrent owner makes this wait for its
    commit (then False) or rollback (then True)."""
    stmt = (
        insert(idempotency_keys)
        .values(key=key, request_hash=request_hash, order_id=order_id)
        .on_conflict_do_nothing(index_elements=[idempotency_keys.c.key])
        .returning(idempotency_keys.c.key)
    )
    return (await session.execute(stmt)).first() is not None


async def get_idempotency_key(session: AsyncSession, key: str) -> Row | None:
    stmt = sa.select(idempotency_keys).where(idempotency_keys.c.key == key)
    return (await session.execute(stmt)).mappings().first()
