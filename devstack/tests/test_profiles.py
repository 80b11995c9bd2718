import pytest

from devstack.paths import find_repo_root
from devstack.profiles import PROFILES, UnknownProfile, dev_overrides, get_profile
from devstack.services import SERVICES, get_service, service_env
from devstack.topics import EVENT_TOPICS, TOPICS


def test_dev_profile_uses_the_standard_ports() -> None:
    dev = get_profile("dev", environ={})
    assert (
        dev.postgres_port,
        dev.redis_port,
        dev.kafka_port,
        dev.elasticsearch_port,
        dev.mongodb_port,
    ) == (5432, 6379, 9092, 9200, 27017)
    assert dev.redis_url == "redis://127.0.0.1:6379/0"


def test_test_profile_never_collides_with_dev_stand_ins() -> None:
    dev, test = PROFILES["dev"], PROFILES["test"]
    assert test.postgres_port == dev.postgres_port
    assert test.redis_port == dev.redis_port
    assert {test.kafka_port, test.elasticsearch_port, test.mongodb_port}.isdisjoint(
        {dev.kafka_port, dev.elasticsearch_port, dev.mongodb_port}
    )
    assert test.kafka_bootstrap == "127.0.0.1:19092"
    assert test.elasticsearch_url == "http://127.0.0.1:19200"
    assert test.mongodb_url == "mongodb://127.0.0.1:37017/?directConnection=true"
    assert test.redis_url == "redis://127.0.0.1:6379/15"


def test_bench_profile_keeps_its_own_ports_and_redis_db() -> None:
    bench, test = PROFILES["bench"], PROFILES["test"]
    assert bench.kafka_port != test.kafka_port
    assert bench.redis_db not in (PROFILES["dev"].redis_db, test.redis_db)


def test_dev_profile_reads_the_service_env_vars() -> None:
    dev = get_profile(
        "dev",
        environ={
            "DATABASE_URL": "postgresql+asyncpg://app:secret@127.0.0.1:5433/inventory_db",
            "REDIS_URL": "redis://127.0.0.1:6380/2",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9093,127.0.0.1:9094",
            "ELASTICSEARCH_URL": "http://127.0.0.1:9201",
            "MONGODB_URL": "mongodb://127.0.0.1:27018/?directConnection=true",
        },
    )
    assert (
        dev.postgres_port,
        dev.redis_port,
        dev.kafka_port,
        dev.elasticsearch_port,
        dev.mongodb_port,
    ) == (5433, 6380, 9093, 9201, 27018)
    assert dev.redis_db == 2
    assert dev.postgres_url("x") == "postgresql+asyncpg://app:secret@127.0.0.1:5433/x"


def test_env_overrides_apply_to_dev_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVSTACK_PORT_OFFSET", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1111")
    assert get_profile("test").kafka_port == 19092
    assert get_profile("dev").kafka_port == 1111
    assert dev_overrides(PROFILES["dev"], {}) == PROFILES["dev"]


def test_unknown_profile_is_rejected() -> None:
    with pytest.raises(UnknownProfile):
        get_profile("prod")


def test_registry_lists_seven_services_with_their_ports() -> None:
    assert {s.name: s.port for s in SERVICES} == {
        "api-gateway": 9000,
        "product-service": 8001,
        "order-service": 8002,
        "inventory-service": 8003,
        "notification-service": 8004,
        "ai-service": 8005,
        "search-service": 8006,
    }


def test_every_registered_service_is_implemented_as_its_readme_says() -> None:
    # The registry lists what `devstack up` starts: all seven, so no README may say otherwise.
    root = find_repo_root()
    for spec in SERVICES:
        readme = (spec.folder(root) / "README.md").read_text()
        assert "NOT IMPLEMENTED" not in readme, spec.name


def test_service_env_points_at_the_profile() -> None:
    env = service_env(get_service("inventory-service"), PROFILES["dev"])
    assert env == {
        "SERVICE_NAME": "inventory-service",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/inventory_db",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "MONGODB_URL": "mongodb://127.0.0.1:27017/?directConnection=true",
        "ELASTICSEARCH_URL": "http://127.0.0.1:9200",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": "1025",
    }
    order = service_env(get_service("order-service"), PROFILES["test"])
    assert order["DATABASE_URL"].endswith(":5432/order_db")
    assert order["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"
    # Many test services share one PostgreSQL: smaller pools there, the default (32) elsewhere.
    assert order["DB_POOL_SIZE"] == "10"
    assert "DB_POOL_SIZE" not in service_env(get_service("order-service"), PROFILES["bench"])
    assert "DATABASE_URL" not in service_env(get_service("search-service"), PROFILES["dev"])


def test_every_topic_has_a_single_partition_dlq() -> None:
    assert TOPICS["order-placed"] == 6
    assert TOPICS["inventory-low"] == 3
    for name in EVENT_TOPICS:
        assert TOPICS[f"{name}.dlq"] == 1
    assert len(TOPICS) == 2 * len(EVENT_TOPICS)


def test_port_offset_moves_every_test_stand_in_but_not_shared_servers() -> None:
    shifted = get_profile("test", environ={"DEVSTACK_PORT_OFFSET": "1000"})
    base = PROFILES["test"]
    assert shifted.kafka_bootstrap == "127.0.0.1:20092"
    assert (
        shifted.elasticsearch_port,
        shifted.mongodb_port,
        shifted.smtp_port,
        shifted.oidc_port,
    ) == (20200, 38017, 12025, 19081)
    assert (shifted.postgres_port, shifted.redis_port) == (base.postgres_port, base.redis_port)
    assert get_profile("dev", environ={"DEVSTACK_PORT_OFFSET": "1000"}).kafka_port == 9092


def test_a_port_offset_that_is_not_a_number_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="DEVSTACK_PORT_OFFSET"):
        get_profile("test", environ={"DEVSTACK_PORT_OFFSET": "lots"})
