"""The fleet's capacity from a stepped Locust run (make load): per step, the median requests/s
and p95 of the whole mix once the step settled; capacity is the largest step whose p95 stayed
at or under 200 ms. Writes bench/results/load_capacity.json; last line `RESULT key=value ...`.

    .venv/bin/python loadtest/capacity.py bench/results/load
"""

import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

P95_LIMIT_MS = 200.0
SETTLE_ROWS = 5  # history rows (about a second each) skipped at the start of every step


def main(prefix: str) -> int:
    history = Path(f"{prefix}_stats_history.csv")
    totals = Path(f"{prefix}_stats.csv")
    steps: dict[int, list[dict[str, str]]] = defaultdict(list)
    with history.open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated" and row["95%"] not in ("N/A", "0", ""):
                steps[int(row["User Count"])].append(row)
    figures = []
    for users, rows in sorted(steps.items()):
        settled = rows[SETTLE_ROWS:] or rows
        figures.append(
            {
                "users": users,
                "rps": round(statistics.median(float(r["Requests/s"]) for r in settled), 1),
                "p95_ms": statistics.median(float(r["95%"]) for r in settled),
                "failures_per_s": round(
                    statistics.median(float(r["Failures/s"]) for r in settled), 2
                ),
            }
        )
    with totals.open() as handle:
        aggregated = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    requests = int(aggregated["Request Count"])
    failures = int(aggregated["Failure Count"])
    within = [f for f in figures if f["p95_ms"] <= P95_LIMIT_MS]
    best = max(within, key=lambda f: f["users"]) if within else None
    result = {
        "p95_limit_ms": P95_LIMIT_MS,
        "steps": figures,
        "capacity_users": best["users"] if best else 0,
        "capacity_rps": best["rps"] if best else 0.0,
        "capacity_p95_ms": best["p95_ms"] if best else None,
        "requests": requests,
        "error_rate": round(failures / requests, 4) if requests else None,
    }
    out = Path(prefix).parent / "load_capacity.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    for f in figures:
        print(
            f"{f['users']:>5} users  {f['rps']:>7} req/s  p95 {f['p95_ms']:>6} ms  "
            f"{f['failures_per_s']} failures/s"
        )
    print(
        f"RESULT capacity_users={result['capacity_users']} capacity_rps={result['capacity_rps']}"
        f" capacity_p95_ms={result['capacity_p95_ms']} error_rate={result['error_rate']}"
        f" requests={requests}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/load"))
