"""Alembic environment: runs on the connection order_service.migrate hands over."""

from chassis.migrations import run_migrations
from order_service.models import metadata

run_migrations(metadata)
