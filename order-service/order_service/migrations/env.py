"""Alembic environment. Runs on a connection handed over by order_service.migrate, so the
service's own async engine (and its URL) is the only source of truth."""

from alembic import context

from order_service.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m order_service.migrate`")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
