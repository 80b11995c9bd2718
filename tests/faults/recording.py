"""Figures of the fault suite: one entry per case in bench/results/faults.json.

Every case records the same keys (placed, delivered, duplicates, lost, recovery_s) so the file can
be compared run to run; a case may add keys of its own. Cases merge into the file, so running one
test updates its own entry and leaves the others as they were last measured.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "faults.json"
FIXED_KEYS = ("placed", "delivered", "duplicates", "lost", "recovery_s")


def record_case(
    case: str,
    *,
    placed: int,
    delivered: int,
    duplicates: int,
    lost: int,
    recovery_s: float | None,
    **extra: Any,
) -> dict[str, Any]:
    """Write one case's figures into faults.json (atomically) and return them."""
    entry: dict[str, Any] = {
        "placed": placed,
        "delivered": delivered,
        "duplicates": duplicates,
        "lost": lost,
        "recovery_s": None if recovery_s is None else round(recovery_s, 2),
        **extra,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    current: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            current = json.loads(RESULTS.read_text())
        except json.JSONDecodeError:
            current = {}
    current[case] = entry
    scratch = RESULTS.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    scratch.replace(RESULTS)
    return entry
