"""Idempotent creation of what the services expect to exist: databases and topics."""

import contextlib
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from devstack.profiles import Profile

if TYPE_CHECKING:
    from aiokafka.admin import AIOKafkaAdminClient

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class InvalidDatabaseName(ValueError):
    pass


def check_database_name(name: str) -> str:
    # Names go into CREATE DATABASE unparameterised, so only plain identifiers pass.
    if not _DATABASE_NAME.match(name):
        raise InvalidDatabaseName(f"database name must match {_DATABASE_NAME.pattern}: {name!r}")
    return name


async def create_databases(profile: Profile, names: Iterable[str]) -> list[str]:
    """Creates the missing ones; returns those it created."""
    import asyncpg

    wanted = [check_database_name(name) for name in names]
    connection = await asyncpg.connect(
        host=profile.host,
        port=profile.postgres_port,
        user=profile.postgres_user,
        password=profile.postgres_password,
        database="postgres",
    )
    created = []
    try:
        for name in wanted:
            exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists:
                continue
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                continue  # created concurrently by another test session
            created.append(name)
    finally:
        await connection.close()
    return created


async def drop_databases(profile: Profile, names: Iterable[str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=profile.host,
        port=profile.postgres_port,
        user=profile.postgres_user,
        password=profile.postgres_password,
        database="postgres",
    )
    try:
        for name in names:
            # FORCE: a test that leaked a pooled connection must not keep its database alive.
            await connection.execute(
                f'DROP DATABASE IF EXISTS "{check_database_name(name)}" WITH (FORCE)'
            )
    finally:
        await connection.close()


async def create_topics(bootstrap: str, topics: Mapping[str, int]) -> dict[str, int]:
    """Creates missing topics and grows ones with fewer partitions (the broker auto-creates
    topics with 1). Returns the partition count of each topic afterwards."""
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=name, num_partitions=count, replication_factor=1)
            for name, count in topics.items()
            if name not in existing
        ]
        if missing:
            # A concurrent creator may win; the partition counts are checked below anyway.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        counts = await partition_counts(admin, list(topics))
        grow = {
            name: NewPartitions(total_count=count)
            for name, count in topics.items()
            if counts.get(name, 0) < count
        }
        if grow:
            await admin.create_partitions(grow)
            counts = await partition_counts(admin, list(topics))
        short = {
            name: counts.get(name, 0)
            for name, count in topics.items()
            if counts.get(name, 0) < count
        }
        if short:
            raise RuntimeError(f"topics without their partitions after create: {short}")
        return counts
    finally:
        await admin.close()


async def partition_counts(admin: "AIOKafkaAdminClient", names: list[str]) -> dict[str, int]:
    described = await admin.describe_topics(names)
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in described
        if not topic.get("error_code")
    }


async def describe_partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        return await partition_counts(admin, names)
    finally:
        await admin.close()
