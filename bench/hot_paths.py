"""Hot paths beside their floor: each of the fleet's busiest paths measured in one run next to
the least its own stack can do, so what is left is what our code costs.

Starts what it needs (bench profile; set DEVSTACK_PORT_OFFSET to move the stand-in ports):
PostgreSQL, Redis, the broker + search stand-in, the MongoDB stand-in, the SMTP sink, the seven
services under uvicorn (one process each, as in the images), and beside them:

- floor apps (bench/floor/, ~15 lines each, one uvicorn process): inventory's read with an
  asyncpg pool of 32, product's read with PyMongo's async `find_one`, on the same databases;
- nginx (Debian package) as the reference gateway, in front of a trivial backend (nginx
  `return 200` with a small JSON body); our gateway proxies to the same backend.

Load comes from wrk (Debian package): 32 connections, floor and ours alternated round by round
(A/B, B/A, ...); each ratio is the median of the per-round ratios, so a neighbour's burst on a
shared machine hits both sides of a round. The two read sections run more rounds than the rest
(--read-rounds, --read-seconds: 7 of 5 s each): with 3 rounds of 4 s their ratios moved by
+-0.1 from one run to the next on the shared machine. CPU per request is read from /proc for
the process under test (utime + stime) over its rounds.

Keys (bench/results/hot_paths.json; the targets are in issue 11):
  inventory_read_ratio   ours / floor rps, GET /api/inventory/{id}        (aim >= 0.6)
  inventory_read_cpu_ms  inventory-service CPU per read                   (aim <= 0.5)
  product_read_ratio     ours / floor rps, GET /api/products/{id}         (aim >= 0.7)
  orders_per_s, orders_p99_ms   POST /api/orders at 16 connections        (aim >= 250, <= 150)
  cpu_ms_per_order       CPU of every fleet process and of the PostgreSQL backends serving this
                         run's databases, from the order run's start until every service is
                         quiet again (the consumers' share included), / orders  (aim <= 5);
                         cpu_ms_per_order_during_run stops when wrk does
  stock_exact            after the order run: reserved units == orders stored == 201 replies
  gateway_vs_nginx       our gateway's rps / nginx's, same trivial backend (aim >= 0.2)
  gateway_added_p50_ms   gateway p50 - direct p50 at 1 connection         (aim <= 0.3)
  ratelimit_cost         1 - rps with rate limits / rps without           (aim <= 0.1)
  fleet_idle_cpu_pct     the seven services, 30 s idle, % of one core     (aim <= 5)
  fleet_rss_mb           the seven services' RSS summed, idle             (aim <= 800)

    .venv/bin/python bench/hot_paths.py [--read-seconds 5] [--read-rounds 7]
        [--gateway-rounds 6] [--gateway-seconds 5] [--order-seconds 10] [--idle 30]
        [--only idle reads gateway orders] [--py-spy DIR]

The read sections and the gateway section (nginx, gateway, gateway with rate limits, on a
backend that costs nothing) are the most sensitive to a neighbour's burst: each has its own,
long alternation.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import asyncpg
import httpx
from benchtools import ensure, log, process, uvicorn

from devstack import local_stack, start_service
from devstack.paths import find_repo_root
from devstack.pidfile import running_pid
from devstack.profiles import get_profile
from devstack.services import free_port, get_service, service_paths

ROOT = Path(__file__).resolve().parent.parent
FLOOR = ROOT / "bench" / "floor"
RESULTS = ROOT / "bench" / "results" / "hot_paths.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
SECTIONS = ("idle", "reads", "gateway", "orders")
CONNECTIONS = 32
ORDER_CONNECTIONS = 16
ORDER_STOCK = 1_000_000
TRIVIAL_BODY = '{"id":"bench-item","name":"Sturdy Mug","price":12.5,"tags":["kitchen","mug"]}'
AIMS = {
    "inventory_read_ratio": (">=", 0.6),
    "inventory_read_cpu_ms": ("<=", 0.5),
    "product_read_ratio": (">=", 0.7),
    "orders_per_s": (">=", 250),
    "orders_p99_ms": ("<=", 150),
    "cpu_ms_per_order": ("<=", 5),
    "gateway_vs_nginx": (">=", 0.2),
    "gateway_added_p50_ms": ("<=", 0.3),
    "ratelimit_cost": ("<=", 0.1),
    "fleet_idle_cpu_pct": ("<=", 5),
    "fleet_rss_mb": ("<=", 800),
}


# -- /proc ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):  # the process ended (ESRCH mid-read)
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 1e6


def service_pid(name: str, url: str) -> int:
    port = int(url.rsplit(":", 1)[1])
    paths = service_paths(find_repo_root(), get_profile("bench"), get_service(name), port)
    pid = running_pid(paths.pid)
    if pid is None:
        raise SystemExit(f"{name}: no PID file for the process at {url}")
    return pid


# -- processes -------------------------------------------------------------------------------


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx-{port}.pid;
error_log {dir}/nginx-{port}.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    {body}
  }}
}}
"""


def nginx(
    binary: str, folder: Path, port: int, body: str, backend: int = 0
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    conf = folder / f"nginx-{port}.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=port, body=body, backend=backend or port))
    return process(
        [binary, "-c", str(conf), "-e", str(folder / f"nginx-{port}.err")],
        f"http://127.0.0.1:{port}/health",
    )


# -- wrk -------------------------------------------------------------------------------------

ORDER_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{body}'
"""


def run_wrk(
    wrk: str,
    url: str,
    connections: int,
    seconds: float,
    script: Path | None = None,
    allow_errors: bool = False,
) -> dict[str, float]:
    command = [
        wrk,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        url,
    ]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if not (rps and p50 and p99 and total):
        raise SystemExit(f"could not read wrk output:\n{output}")
    failed = int(errors.group(1)) if errors else 0
    if (failed or socket_errors) and not allow_errors:
        raise SystemExit(f"errors from {url}:\n{output}")
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "failed": failed,
        "p50_ms": float(p50.group(1)) * UNITS[p50.group(2)],
        "p99_ms": float(p99.group(1)) * UNITS[p99.group(2)],
    }


def ab_rounds(
    wrk: str, sides: Mapping[str, tuple[str, list[int]]], rounds: int, seconds: float
) -> dict[str, list[dict[str, float]]]:
    """Each side once per round, the order rotated every round; per run: rps and the CPU
    per request of the side's processes."""
    names = list(sides)
    for url, _ in sides.values():
        run_wrk(wrk, url, CONNECTIONS, 1, allow_errors=True)  # warm-up: pools filled
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for n in range(rounds):
        order = names[n % len(names) :] + names[: n % len(names)]
        for name in order:
            url, pids = sides[name]
            before = tree_cpu(pids)
            # PostgreSQL is shared with other work here: a refused connection (503) is counted,
            # and only answered requests make the throughput.
            figures = run_wrk(wrk, url, CONNECTIONS, seconds, allow_errors=True)
            if figures["failed"]:
                log(f"round {n + 1} {name}: {figures['failed']} non-2xx replies")
                figures["rps"] *= 1 - figures["failed"] / max(1, figures["requests"])
            used = tree_cpu(pids) - before
            figures["cpu_ms"] = used * 1000 / max(1, figures["requests"])
            runs[name].append(figures)
            log(
                f"round {n + 1} {name}: {figures['rps']:.0f} rps, "
                f"{figures['cpu_ms']:.2f} ms CPU/request"
            )
    return runs


def median_ratio(runs: Mapping[str, list[dict[str, float]]], a: str, b: str) -> float:
    return round(
        statistics.median(x["rps"] / y["rps"] for x, y in zip(runs[a], runs[b], strict=True)), 3
    )


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 3)


# -- fleet -------------------------------------------------------------------------------------


def sample_idle(pids: Mapping[str, int], seconds: float) -> tuple[dict[str, float], float]:
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    pct = {
        name: round((cpu_seconds(pid) - start[name]) / elapsed * 100, 2)
        for name, pid in pids.items()
    }
    return pct, round(sum(pct.values()), 2)


def settle(pids: Mapping[str, int], limit_pct: float, quiet_seconds: int, timeout: float) -> float:
    began = time.monotonic()
    quiet = 0
    while quiet < quiet_seconds and time.monotonic() - began < timeout:
        pct, _ = sample_idle(pids, 1.0)
        quiet = quiet + 1 if max(pct.values()) < limit_pct else 0
    return round(time.monotonic() - began, 1)


async def connect(dsn: str) -> asyncpg.Connection:
    """The shared PostgreSQL may be at max_connections for a moment (other work): retry."""
    for _ in range(40):
        try:
            return await asyncpg.connect(dsn)
        except asyncpg.TooManyConnectionsError:
            await asyncio.sleep(0.5)
    return await asyncpg.connect(dsn)


async def postgres_backends(dsn: str, databases: list[str]) -> list[int]:
    """PIDs of the PostgreSQL backends serving our databases (the server is shared)."""
    connection = await connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1::text[])", databases
        )
    finally:
        await connection.close()
    return [int(row["pid"]) for row in rows]


async def stock_state(dsn: str, product_id: str) -> dict[str, int]:
    connection = await connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT quantity, reserved_qty FROM inventory WHERE product_id = $1", product_id
        )
    finally:
        await connection.close()
    return {"quantity": row["quantity"], "reserved": row["reserved_qty"]}


async def count_orders(dsn: str) -> int:
    connection = await connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM orders"))
    finally:
        await connection.close()


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@contextmanager
def py_spy(folder: Path | None, pids: Mapping[str, int], seconds: float) -> Iterator[None]:
    """With a folder: py-spy samples every service while the body runs and writes one file of
    collapsed stacks per service (`<service>.folded`; speedscope and flamegraph.pl read it)."""
    if folder is None:
        yield
        return
    program = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if program is None:
        raise SystemExit("--py-spy needs py-spy: run `make bench-profile` (it installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen(
            [
                program,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(folder / f"{name}.folded"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            try:
                recorder.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                recorder.kill()
        log(f"py-spy: collapsed stacks per service in {folder}")


def check(key: str, value: float) -> bool:
    op, aim = AIMS[key]
    return value >= aim if op == ">=" else value <= aim


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--read-seconds", type=float, default=5.0, help="per wrk run of the read sections"
    )
    parser.add_argument(
        "--read-rounds", type=int, default=7, help="rounds of the read sections (odd: a median)"
    )
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--order-seconds", type=float, default=10.0)
    parser.add_argument("--gateway-rounds", type=int, default=6, help="gateway section only")
    parser.add_argument("--gateway-seconds", type=float, default=5.0, help="gateway section only")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="run these sections only (the results file is written only when all run)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="record a py-spy flame graph of every service during the order run into DIR",
    )
    args = parser.parse_args()
    sections = set(args.only)
    wrk = ensure("wrk", "wrk")
    nginx_bin = ensure("nginx", "nginx")
    run = uuid.uuid4().hex[:8]
    result: dict[str, object] = {
        "cpus": os.cpu_count(),
        "note": "shared 2-core machine (other sessions busy): compare the ratios, not the rps",
        "connections": CONNECTIONS,
        "order_connections": ORDER_CONNECTIONS,
        "read_seconds_per_run": args.read_seconds,
        "read_rounds": args.read_rounds,
    }
    with (
        local_stack(profile="bench") as ep,
        ExitStack() as stack,
        tempfile.TemporaryDirectory() as tmp,
    ):
        folder = Path(tmp)
        for sub in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            (folder / sub).mkdir()
        common = {
            "KAFKA_BOOTSTRAP_SERVERS": ep.kafka_bootstrap,
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": ep.redis_url,
        }
        inventory_db = f"bench_hot_inventory_{run}"
        order_db = f"bench_hot_order_{run}"
        inventory_url_db = ep.postgres_url(inventory_db)
        order_url_db = ep.postgres_url(order_db)
        mongo_db = f"bench_hot_{run}"

        def start(name: str, env: dict[str, str]) -> str:
            log(f"starting {name}")
            return stack.enter_context(start_service(name, env={**common, **env}, profile="bench"))

        urls: dict[str, str] = {}
        urls["inventory-service"] = start(
            "inventory-service",
            {"DATABASE_URL": inventory_url_db, "CONSUMER_GROUP": f"hot-inventory-{run}"},
        )
        urls["product-service"] = start(
            "product-service",
            {
                "MONGODB_URL": ep.mongodb_url,
                "MONGODB_DB": mongo_db,
                "INVENTORY_SERVICE_URL": urls["inventory-service"],
            },
        )
        urls["order-service"] = start(
            "order-service",
            {"DATABASE_URL": order_url_db, "INVENTORY_SERVICE_URL": urls["inventory-service"]},
        )
        urls["notification-service"] = start(
            "notification-service",
            {
                "SMTP_PORT": str(ep.profile.smtp_port),
                "REDIS_KEY_PREFIX": f"hot-notif-{run}",
                "CONSUMER_GROUP": f"hot-notif-{run}",
            },
        )
        urls["search-service"] = start(
            "search-service",
            {
                "ELASTICSEARCH_URL": ep.elasticsearch_url,
                "SEARCH_INDEX_ALIAS": f"hot-{run}",
                "PRODUCT_SERVICE_URL": urls["product-service"],
                "CONSUMER_GROUP": f"hot-search-{run}",
            },
        )
        urls["ai-service"] = start(
            "ai-service",
            {
                "PRODUCT_SERVICE_URL": urls["product-service"],
                "REDIS_KEY_PREFIX": f"hot-ai-{run}",
                "CONSUMER_GROUP": f"hot-ai-{run}",
            },
        )
        urls["api-gateway"] = start(
            "api-gateway",
            {
                "RATE_LIMIT_ENABLED": "false",
                "AUTH_ENABLED": "false",
                **{f"{name.upper().replace('-', '_')}_URL": url for name, url in urls.items()},
            },
        )
        pids = {name: service_pid(name, url) for name, url in urls.items()}

        # Data: one product (MongoDB) with stock (PostgreSQL) for reads, one for orders.
        product = (
            httpx.post(
                f"{urls['product-service']}/api/products",
                timeout=30,
                json={
                    "name": f"Hot Lamp {run}",
                    "description": "A desk lamp for measuring",
                    "price": 10.0,
                    "category": "lighting",
                    "stock_quantity": 100,
                },
            )
            .raise_for_status()
            .json()
        )
        product_id = product["id"]
        order_product = f"hot-order-{run}"
        for pid_, qty in ((product_id, 100), (order_product, ORDER_STOCK)):
            httpx.post(
                f"{urls['inventory-service']}/api/inventory",
                timeout=30,
                json={
                    "product_id": pid_,
                    "product_name": "Hot Lamp",
                    "quantity": qty,
                },
            ).raise_for_status()

        # Start-up work settles first: new consumer groups read the bench broker's topics from
        # the start (earlier runs' events), ai-service builds its index. Idle is what follows.
        log("waiting for start-up work to settle (every service under 3 % for 3 s in a row)")
        settled_after = settle(pids, limit_pct=3.0, quiet_seconds=3, timeout=120)
        result["settled_after_s"] = settled_after

        # 1. idle fleet
        if "idle" in sections:
            log(f"fleet idle for {args.idle:g}s")
            idle_pct, idle_total = sample_idle(pids, args.idle)
            rss = {name: round(rss_mb(pid), 1) for name, pid in pids.items()}
            result["fleet_idle_cpu_pct"] = idle_total
            result["fleet_idle_cpu_pct_per_service"] = idle_pct
            result["fleet_rss_mb"] = round(sum(rss.values()), 1)
            result["fleet_rss_mb_per_service"] = rss

        # 2. reads beside their floors
        if "reads" in sections:
            floor_env = {
                "FLOOR_DSN": plain_dsn(inventory_url_db),
                "FLOOR_MONGODB_URL": ep.mongodb_url,
                "FLOOR_MONGODB_DB": mongo_db,
            }
            inv_port, prod_port = free_port(), free_port()
            inv_floor = stack.enter_context(
                uvicorn(
                    "floor_inventory:app",
                    inv_port,
                    f"/api/inventory/{product_id}",
                    floor_env,
                    FLOOR,
                )
            )
            prod_floor = stack.enter_context(
                uvicorn(
                    "floor_product:app", prod_port, f"/api/products/{product_id}", floor_env, FLOOR
                )
            )
            reads = (
                ("inventory", inv_port, inv_floor, f"/api/inventory/{product_id}"),
                ("product", prod_port, prod_floor, f"/api/products/{product_id}"),
            )
            for name, floor_port, floor, path in reads:
                service = f"{name}-service"
                log(f"{name} read: floor vs {service}")
                runs = ab_rounds(
                    wrk,
                    {
                        "floor": (f"http://127.0.0.1:{floor_port}{path}", [floor.pid]),
                        "ours": (f"{urls[service]}{path}", [pids[service]]),
                    },
                    args.read_rounds,
                    args.read_seconds,
                )
                result[f"{name}_read"] = runs
                result[f"{name}_read_ratio"] = median_ratio(runs, "ours", "floor")
                result[f"{name}_read_cpu_ms"] = median_of(runs["ours"], "cpu_ms")
                result[f"{name}_read_floor_cpu_ms"] = median_of(runs["floor"], "cpu_ms")

        # 3. the gateway beside nginx, same trivial backend
        if "gateway" in sections:
            backend_port, nginx_port = free_port(), free_port()
            stack.enter_context(
                nginx(
                    nginx_bin,
                    folder,
                    backend_port,
                    (
                        "location / { default_type application/json; "
                        f"return 200 '{TRIVIAL_BODY}'; }}"
                    ),
                )
            )
            nginx_proxy = stack.enter_context(
                nginx(
                    nginx_bin,
                    folder,
                    nginx_port,
                    (
                        "location /health { return 200 'ok'; } "
                        "location / { proxy_pass http://backend; proxy_http_version 1.1; "
                        'proxy_set_header Connection ""; }'
                    ),
                    backend=backend_port,
                )
            )
            backend = f"http://127.0.0.1:{backend_port}"
            gateway_env = {
                "LOG_LEVEL": "WARNING",
                "AUTH_ENABLED": "false",
                **{
                    f"{name}_SERVICE_URL": backend
                    for name in ("PRODUCT", "ORDER", "INVENTORY", "AI", "SEARCH", "NOTIFICATION")
                },
            }
            plain_port, limited_port = free_port(), free_port()
            plain = stack.enter_context(
                uvicorn(
                    "api_gateway.main:app",
                    plain_port,
                    "/health",
                    {**gateway_env, "RATE_LIMIT_ENABLED": "false"},
                    ROOT / "api-gateway",
                )
            )
            limited = stack.enter_context(
                uvicorn(
                    "api_gateway.main:app",
                    limited_port,
                    "/health",
                    {
                        **gateway_env,
                        "RATE_LIMIT_ENABLED": "true",
                        "REDIS_URL": ep.redis_url,
                        "RATE_LIMIT_DEFAULT": "100000000/minute",
                        "RATE_LIMIT_KEY_PREFIX": f"hot-rl-{run}",
                    },
                    ROOT / "api-gateway",
                )
            )
            path = "/api/products/bench-item"
            log("gateway: nginx vs api-gateway (rate limits off, on), trivial backend")
            gw = ab_rounds(
                wrk,
                {
                    "nginx": (f"http://127.0.0.1:{nginx_port}{path}", [nginx_proxy.pid]),
                    "gateway": (f"http://127.0.0.1:{plain_port}{path}", [plain.pid]),
                    "gateway_limited": (f"http://127.0.0.1:{limited_port}{path}", [limited.pid]),
                },
                args.gateway_rounds,
                args.gateway_seconds,
            )
            direct = run_wrk(wrk, backend + path, CONNECTIONS, args.gateway_seconds)
            result["gateway"] = gw
            result["trivial_backend_direct_rps"] = direct["rps"]
            result["gateway_vs_nginx"] = median_ratio(gw, "gateway", "nginx")
            result["nginx_vs_direct"] = round(median_of(gw["nginx"], "rps") / direct["rps"], 3)
            result["gateway_cpu_ms"] = median_of(gw["gateway"], "cpu_ms")
            result["ratelimit_cost"] = round(1 - median_ratio(gw, "gateway_limited", "gateway"), 3)
            result["gateway_rounds"] = args.gateway_rounds
            result["gateway_seconds_per_run"] = args.gateway_seconds
            one_direct, one_gateway = [], []
            for _ in range(args.gateway_rounds):
                one_direct.append(run_wrk(wrk, backend + path, 1, 2)["p50_ms"])
                one_gateway.append(
                    run_wrk(wrk, f"http://127.0.0.1:{plain_port}{path}", 1, 2)["p50_ms"]
                )
            result["gateway_p50_1_ms"] = round(statistics.median(one_gateway), 3)
            result["direct_p50_1_ms"] = round(statistics.median(one_direct), 3)
            result["gateway_added_p50_ms"] = round(
                statistics.median(g - d for g, d in zip(one_gateway, one_direct, strict=True)), 3
            )

        # 4. order placement at 16 connections, straight to order-service
        if "orders" in sections:
            body = json.dumps(
                {
                    "customer_name": "Hot",
                    "customer_email": "hot@example.com",
                    "items": [
                        {
                            "product_id": order_product,
                            "product_name": "Hot Lamp",
                            "quantity": 1,
                            "unit_price": 10.0,
                        }
                    ],
                }
            )
            script = folder / "order.lua"
            script.write_text(ORDER_SCRIPT.format(body=body))
            order_url = f"{urls['order-service']}/api/orders"
            run_wrk(wrk, order_url, 4, 1, script)  # warm-up
            before_orders = asyncio.run(count_orders(plain_dsn(order_url_db)))
            fleet_pids = list(pids.values())
            pg_pids = asyncio.run(
                postgres_backends(plain_dsn(inventory_url_db), [inventory_db, order_db])
            )
            cpu_before = tree_cpu(fleet_pids) + tree_cpu(pg_pids)
            per_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            pg_before = {pid: cpu_seconds(pid) for pid in pg_pids}
            log(f"orders: {ORDER_CONNECTIONS} connections for {args.order_seconds:g}s")
            with py_spy(args.py_spy, pids, args.order_seconds):
                orders = run_wrk(
                    wrk, order_url, ORDER_CONNECTIONS, args.order_seconds, script, allow_errors=True
                )
            placed = orders["requests"] - orders["failed"]

            def cpu_per_order() -> tuple[float, dict[str, float]]:
                """Fleet + PostgreSQL CPU since the run began, per placed order, and its split
                by process. New backends (if any) count from zero; ones that ended are lost
                (churn shows here)."""
                backends = asyncio.run(
                    postgres_backends(plain_dsn(inventory_url_db), [inventory_db, order_db])
                )
                total = tree_cpu(fleet_pids) + tree_cpu(backends) - cpu_before
                split = {
                    name: round((cpu_seconds(pid) - per_before[name]) * 1000 / max(1, placed), 2)
                    for name, pid in pids.items()
                }
                split["postgresql"] = round(
                    sum(cpu_seconds(pid) - pg_before.get(pid, 0.0) for pid in backends)
                    * 1000
                    / max(1, placed),
                    2,
                )
                result["postgres_backends"] = {"before": len(pg_pids), "after": len(backends)}
                return round(total * 1000 / max(1, placed), 2), split

            during, during_split = cpu_per_order()
            # The consumers' share of the orders (emails, confirmations, follow-ups) may still
            # be under way when wrk stops: it counts too. Wait until every service is quiet
            # again (its idle CPU while waiting counts against us).
            log("orders placed; waiting for the consumers to finish their share")
            result["orders_drained_after_s"] = settle(
                pids, limit_pct=3.0, quiet_seconds=2, timeout=120
            )
            total_ms, split = cpu_per_order()
            result["cpu_ms_per_order"] = total_ms
            result["cpu_ms_per_order_by_process"] = split
            result["cpu_ms_per_order_during_run"] = during
            result["cpu_ms_per_order_by_process_during_run"] = during_split
            log(
                f"CPU ms per order: {total_ms} (during the run {during}): "
                + ", ".join(f"{name} {ms}" for name, ms in split.items())
            )
            stored = asyncio.run(count_orders(plain_dsn(order_url_db)))
            stock = asyncio.run(stock_state(plain_dsn(inventory_url_db), order_product))
            result["orders_per_s"] = round(placed / args.order_seconds, 1)
            result["orders_p99_ms"] = round(orders["p99_ms"], 1)
            result["orders_p50_ms"] = round(orders["p50_ms"], 1)
            result["orders_failed"] = orders["failed"]
            # wrk stops with requests in flight (and gives up on ones slower than its timeout):
            # those may still commit, so stored >= 201 replies; every stored order holds one unit.
            result["stock_exact"] = (
                stock["reserved"] == stored
                and stock["quantity"] == ORDER_STOCK
                and stored - before_orders >= placed
            )
            result["stock"] = {
                **stock,
                "orders_stored": stored,
                "replies_201": placed,
                "orders_before_run": before_orders,
            }
    keys = [key for key in [*AIMS, "stock_exact"] if key in result]
    met = {key: check(key, float(result[key])) for key in AIMS if key in result}  # type: ignore[arg-type]
    result["aims"] = {key: f"{op} {aim}" for key, (op, aim) in AIMS.items()}
    result["aims_met"] = met
    if sections == set(SECTIONS):
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    else:
        log(f"--only {' '.join(sorted(sections))}: {RESULTS.name} left as it was")
    print("RESULT " + " ".join(f"{key}={result[key]}" for key in keys))
    return 0 if result.get("stock_exact", True) else 1


if __name__ == "__main__":
    sys.exit(main())
