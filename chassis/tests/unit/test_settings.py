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
