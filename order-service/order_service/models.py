"""Tables owned by order-service. SQLAlchemy Core: every query is spelled out in repository.py."""

import enum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from chassis.outbox import outbox_table
from chassis.postgres import service_metadata

metadata = service_metadata()


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


# Money is NUMERIC: exact, never a binary float. Bounds in schemas.py keep totals inside.
PRICE = sa.Numeric(12, 2)
AMOUNT = sa.Numeric(16, 2)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("order_number", sa.String(32), nullable=False, unique=True),
    sa.Column("customer_name", sa.String(200), nullable=False),
    sa.Column("customer_email", sa.String(320), nullable=False),
    sa.Column("total_amount", AMOUNT, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.clock_timestamp(),
    ),
    sa.Column(
        "updated_at",
        sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.func.clock_timestamp(),
    ),
    sa.CheckConstraint("total_amount > 0", name="total_positive"),
    sa.CheckConstraint(
        "status IN ('PENDING', 'CONFIRMED', 'SHIPPED', 'DELIVERED', 'CANCELLED')",
        name="status_known",
    ),
)
# "Orders of this customer, newest first" and "all orders, newest first".
sa.Index("ix_orders_email_created", sa.func.lower(orders.c.customer_email), orders.c.created_at)
sa.Index("ix_orders_created_at", orders.c.created_at)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column(
        "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
    ),
    sa.Column(
        "order_id",
        UUID(as_uuid=True),
        sa.ForeignKey("orders.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("line_no", sa.SmallInteger, nullable=False),
    sa.Column("product_id", sa.String(128), nullable=False),
    sa.Column("product_name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", PRICE, nullable=False),
    sa.Column("total_price", AMOUNT, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("unit_price > 0", name="unit_price_positive"),
)

# One row per Idempotency-Key that produced an order, written in the order's transaction.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column(
        "order_id",
        UUID(as_uuid=True),
        # Checked at commit: the key is claimed first, so a racing duplicate waits early.
        sa.ForeignKey("orders.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

# Events leave through the transactional outbox (chassis relay).
outbox = outbox_table(metadata)
