"""Alembic environment: runs on the connection inventory_service.migrate hands over."""

from chassis.migrations import run_migrations
from inventory_service.models import metadata

run_migrations(metadata)
