"""Tables owned by inventory-service.

SQLAlchemy Core, because every stock change is one conditional UPDATE."""

import enum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from chassis.inbox import processed_events_table
from chassis.outbox import outbox_table
from chassis.postgres import service_metadata

metadata = service_metadata()


class ReservationStatus(enum.StrEnum):
    HELD = "HELD"  # stock set aside, expires at expires_at unless confirmed
    CONFIRMED = "CONFIRMED"  # the order was committed; held until shipped or cancelled
    COMMITTED = "COMMITTED"  # shipped: quantity and reserved_qty both dropped
    RELEASED = "RELEASED"  # cancelled: stock given back
    EXPIRED = "EXPIRED"  # never confirmed in time: stock given back by the sweeper


inventory = sa.Table(
    "inventory",
    metadata,
    sa.Column(
        "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
    ),
    sa.Column("product_id", sa.String(128), nullable=False, unique=True),
    sa.Column("product_name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("reserved_qty", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("low_stock_threshold", sa.BigInteger, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    # The database itself refuses an oversell, whatever a bug in the code might try.
    sa.CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    sa.CheckConstraint("reserved_qty >= 0", name="reserved_non_negative"),
    sa.CheckConstraint("reserved_qty <= quantity", name="reserved_within_quantity"),
    sa.CheckConstraint("low_stock_threshold >= 0", name="threshold_non_negative"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
# The sweeper's scan: only held reservations, by expiry.
sa.Index(
    "ix_reservations_held_expires_at",
    reservations.c.expires_at,
    postgresql_where=reservations.c.status == ReservationStatus.HELD.value,
)

reservation_items = sa.Table(
    "reservation_items",
    metadata,
    sa.Column(
        "reservation_id",
        UUID(as_uuid=True),
        sa.ForeignKey("reservations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # No foreign key to inventory: a finished reservation may outlive a deleted item.
    sa.Column("product_id", sa.String(128), primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

# Events leave through the transactional outbox; consumed events are deduplicated in the inbox.
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
