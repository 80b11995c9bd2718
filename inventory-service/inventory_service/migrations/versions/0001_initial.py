"""inventory, reservations, outbox and processed-events tables

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from chassis.inbox import processed_events_table
from chassis.outbox import outbox_table

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inventory",
        sa.Column(
            "id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")
        ),
        sa.Column("product_id", sa.String(128), nullable=False),
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
        sa.CheckConstraint("quantity >= 0", name="ck_inventory_quantity_non_negative"),
        sa.CheckConstraint("reserved_qty >= 0", name="ck_inventory_reserved_non_negative"),
        sa.CheckConstraint(
            "reserved_qty <= quantity", name="ck_inventory_reserved_within_quantity"
        ),
        sa.CheckConstraint("low_stock_threshold >= 0", name="ck_inventory_threshold_non_negative"),
        sa.UniqueConstraint("product_id", name="uq_inventory_product_id"),
    )
    op.create_table(
        "reservations",
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
    op.create_index(
        "ix_reservations_held_expires_at",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("status = 'HELD'"),
    )
    op.create_table(
        "reservation_items",
        sa.Column(
            "reservation_id",
            UUID(as_uuid=True),
            sa.ForeignKey("reservations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("product_id", sa.String(128), primary_key=True),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_items_quantity_positive"),
    )
    # The chassis owns the shape of these two tables; creating them from its definitions keeps
    # every service's copy identical.
    bind = op.get_bind()
    outbox_table(sa.MetaData()).create(bind)
    processed_events_table(sa.MetaData()).create(bind)


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_table("outbox")
    op.drop_table("reservation_items")
    op.drop_table("reservations")
    op.drop_table("inventory")
