"""A bench's figures as JSON (`--json PATH`), for bench/report.py to tabulate and plot.

    {"bench": "webhook_ingest", "command": "python -m bench.webhook_ingest --seconds 10",
     "database": "SQLite", "finished_at": "2026-12-01T10:00:00+00:00",
     "figures": [{"name": "webhook / this shop's bare /healthz", "value": 0.51, "unit": "x", "goal": ">= 0.62",
                  "met": false}, ...],
     "series": {...}}

`name` is what the report's table shows. `goal` is null for a figure printed for context; `met` is then null
too. `series` holds the raw numbers a plot needs; each bench documents its own keys.
"""
from __future__ import annotations

import json
import math
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

# where the benches that need PostgreSQL find its server unless told (each creates a database of its own beside it)
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def figure(name: str, value: float | None, unit: str, goal: float | None = None, goal_op: str = "<=") -> dict:
    """One figure; `goal_op` is ">=" or "<=" (the value must be at least / at most `goal`). A value that could
    not be measured (None or NaN) misses its goal."""
    if isinstance(value, float) and math.isnan(value):
        value = None
    met = None
    if goal is not None:
        met = value is not None and (value >= goal if goal_op == ">=" else value <= goal)
    return {"name": name, "value": round(value, 3) if isinstance(value, float) else value, "unit": unit,
            "goal": None if goal is None else f"{goal_op} {goal:g}", "met": met}


def command_line() -> str:
    """How this bench was started, as one would type it from the repository root."""
    module = Path(sys.argv[0]).with_suffix("").name
    return shlex.join(["python", "-m", f"bench.{module}", *sys.argv[1:]])


def write_json(path: str | None, bench: str, database: str | None, figures: list[dict],
               series: dict | None = None) -> None:
    if not path:
        return
    document = {"bench": bench, "command": command_line(), "database": database,
                "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "figures": figures, "series": series or {}}
    Path(path).write_text(json.dumps(document, indent=1) + "\n")


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile of `values` (nearest rank, as bench/_loadgen.py's Result.pct); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def paid_per_second(point: dict) -> float | None:
    """A goodput point's paid checkouts per second (the stability bench names it paid_per_s)."""
    return point.get("paid_per_s", point.get("paid_per_second"))
