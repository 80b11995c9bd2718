"""The original design's variable names keep working as aliases of ours, each one logged."""

import json

import pytest

from chassis.app import create_app
from chassis.postgres import PostgresServiceSettings
from chassis.settings import BaseServiceSettings, with_url_parts


class OrderLike(PostgresServiceSettings):
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/order_db"
    redis_url: str = "redis://127.0.0.1:6379/0"
    consumer_group: str = "order-service"
    topic_order_placed: str = "order-placed"


class GatewayLike(BaseServiceSettings):
    oidc_issuer_url: str = "http://127.0.0.1:8081/realms/ecommerce"
    oidc_audience: str = "api-gateway"
    mail_from: str = "E-Commerce Shop <no-reply@shop.local>"
    mongodb_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongodb_db: str = "product_db"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "TOPIC_ORDER_PLACED",
        "CONSUMER_GROUP",
        "OIDC_ISSUER_URL",
        "OIDC_AUDIENCE",
        "MAIL_FROM",
    ):
        monkeypatch.delenv(name, raising=False)


def test_postgres_parts_redis_topic_and_group_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "db.internal")
    monkeypatch.setenv("POSTGRES_USER", "shop")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p@ss/word")
    monkeypatch.setenv("POSTGRES_DB", "orders")
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("KAFKA_ORDER_PLACED_TOPIC", "orders.placed")
    monkeypatch.setenv("KAFKA_GROUP_ID", "legacy-group")
    settings = OrderLike()
    assert settings.database_url == (
        "postgresql+asyncpg://shop:p%40ss%2Fword@db.internal:5432/orders"
    )
    assert settings.redis_url == "redis://cache:6380/0"
    assert settings.topic_order_placed == "orders.placed"
    assert settings.consumer_group == "legacy-group"
    warnings = "\n".join(settings.legacy_warnings)
    for old, new in (
        ("POSTGRES_DB, POSTGRES_HOST, POSTGRES_PASSWORD, POSTGRES_USER", "DATABASE_URL"),
        ("REDIS_HOST, REDIS_PORT", "REDIS_URL"),
        ("KAFKA_ORDER_PLACED_TOPIC", "TOPIC_ORDER_PLACED"),
        ("KAFKA_GROUP_ID", "CONSUMER_GROUP"),
    ):
        assert f"{old} read as {new}" in warnings


def test_our_name_wins_over_the_original_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "old-host")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@new-host:5432/x")
    settings = OrderLike()
    assert settings.database_url == "postgresql+asyncpg://u@new-host:5432/x"
    assert any("POSTGRES_HOST ignored: DATABASE_URL is set" in w for w in settings.legacy_warnings)
    assert OrderLike(database_url="postgresql+asyncpg://u@kw:1/y").database_url.endswith("@kw:1/y")


def test_keycloak_smtp_and_mongo_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYCLOAK_URL", "http://keycloak:8080/")
    monkeypatch.setenv("KEYCLOAK_REALM", "microservices")
    monkeypatch.setenv("KEYCLOAK_CLIENT_ID", "ecommerce-app")
    monkeypatch.setenv("SMTP_FROM_EMAIL", "shop@example.com")
    monkeypatch.setenv("MONGO_HOST", "mongo")
    monkeypatch.setenv("DB_NAME", "catalog")
    settings = GatewayLike()
    assert settings.oidc_issuer_url == "http://keycloak:8080/realms/microservices"
    assert settings.oidc_audience == "ecommerce-app"
    assert settings.mail_from == "E-Commerce Shop <shop@example.com>"
    assert settings.mongodb_url == "mongodb://mongo:27017/?directConnection=true"
    assert settings.mongodb_db == "catalog"


def test_a_setting_the_service_does_not_have_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "db")
    assert GatewayLike().legacy_warnings == []


def test_nothing_original_set_means_no_warning() -> None:
    assert OrderLike().legacy_warnings == []


def test_url_parts_keep_what_is_not_given() -> None:
    assert with_url_parts("redis://127.0.0.1:6379/0", port="7000") == "redis://127.0.0.1:7000/0"
    assert with_url_parts("postgresql://a:b@h:1/d", path="e") == "postgresql://a:b@h:1/e"


def test_create_app_logs_each_original_name_as_a_warning(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_GROUP_ID", "legacy-group")
    settings = OrderLike()
    capsys.readouterr()
    create_app(settings, title="t")
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    warned = [e for e in lines if e["event"] == "config.original_variable_name"]
    assert warned
    assert warned[0]["level"] == "warning"
    assert "KAFKA_GROUP_ID read as CONSUMER_GROUP" in warned[0]["detail"]
