"""What a service process loads and keeps: drivers it does not use are not imported, and the
memory start-up freed is handed back once the lifespan has started."""

import subprocess
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import chassis.app
from chassis import BaseServiceSettings, create_app
from chassis.lifecycle import Components
from chassis.memory import release_free_memory


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def test_the_chassis_imports_no_driver_the_service_does_not() -> None:
    loaded = _run(
        "import sys, chassis, chassis.app, chassis.resilience, chassis.kafka\n"
        "print(sorted(m for m in ('sqlalchemy', 'asyncpg', 'pymongo', 'redis', 'elasticsearch',"
        " 'elastic_transport', 'aiosmtplib', 'opentelemetry.sdk') if m in sys.modules))"
    )
    assert loaded == "[]"


def test_a_driver_imported_later_is_still_named_as_an_outage() -> None:
    named = _run(
        "import sys\n"
        "from chassis.dependencies import describe_outage, dependency_error_types\n"
        "assert 'sqlalchemy' not in sys.modules\n"
        "from sqlalchemy.exc import OperationalError\n"
        "from redis.exceptions import ConnectionError as RedisDown\n"
        "error = OperationalError('SELECT 1', {}, Exception('refused'))\n"
        "assert OperationalError in dependency_error_types()\n"
        "print(describe_outage(error), describe_outage(RedisDown('gone')))"
    )
    assert named == "PostgreSQL Redis"


def test_a_driver_error_that_is_also_a_socket_error_keeps_the_driver_name() -> None:
    from aiosmtplib.errors import SMTPConnectError

    from chassis.dependencies import describe_outage

    assert describe_outage(SMTPConnectError("refused")) == "The mail relay"


def test_purgatory_still_loads_redis_for_a_service_that_uses_it() -> None:
    loaded = _run(
        "import sys, redis.asyncio, chassis.resilience\n"
        "from purgatory.service._redis import AsyncRedis\n"
        "print(AsyncRedis is redis.asyncio.Redis)"
    )
    assert loaded == "True"


def test_release_free_memory_runs_on_glibc() -> None:
    assert release_free_memory() is True


def test_create_app_hands_memory_back_once_the_lifespan_has_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    monkeypatch.setattr(chassis.app, "release_free_memory", lambda: events.append("trim"))

    async def setup(app: FastAPI, components: Components) -> None:
        events.append("started")
        components.add("probe", stop=lambda: events.append("stopped"))

    app = create_app(BaseServiceSettings(service_name="unit-memory"), title="t", setup=setup)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert events == ["started", "trim"]
    assert events == ["started", "trim", "stopped"]
