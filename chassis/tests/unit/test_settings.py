from chassis import BaseServiceSettings


def test_defaults_point_at_the_local_stack(monkeypatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = BaseServiceSettings(_env_file=None)
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.http_timeout_seconds > 0


def test_environment_variables_override_defaults(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = BaseServiceSettings(_env_file=None)
    assert (settings.kafka_bootstrap_servers, settings.log_level) == ("kafka:9092", "DEBUG")


def test_unknown_variables_are_ignored(monkeypatch) -> None:
    monkeypatch.setenv("SOMETHING_ELSE", "x")
    settings = BaseServiceSettings(_env_file=None)
    assert "something_else" not in settings.model_dump()


def test_a_consumer_group_defaults_to_the_service_name_and_feeds_the_consumer() -> None:
    from chassis.kafka import EventConsumer, EventProducer
    from chassis.settings import ConsumerSettings

    settings = ConsumerSettings(
        service_name="stock-service", kafka_group_instance_id="stock-1", consumer_max_attempts=3
    )
    assert settings.consumer_group == "stock-service"
    assert ConsumerSettings(service_name="x", consumer_group="shared").consumer_group == "shared"

    async def handle(event: object) -> None:
        return None

    consumer = EventConsumer.from_settings(
        settings, ["order-placed"], handle, producer_for_dlq=EventProducer("127.0.0.1:1")
    )
    assert consumer.group_id == "stock-service"
    assert consumer.topics == ["order-placed"]
    assert consumer._max_attempts == 3
    assert consumer.group_instance_id == "stock-1"
