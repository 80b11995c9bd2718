"""outbox: partial index for the relay's claim query (oldest unsent row per key)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0001 creates the outbox from chassis.outbox.outbox_table, which now carries this index:
    # databases made since then have it already.
    op.create_index(
        "ix_outbox_unsent_by_key",
        "outbox",
        ["key", "created_at", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent_by_key", table_name="outbox", if_exists=True)
