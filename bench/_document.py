"""docs/benchmarks.md from one run of the benches: the current table, the figures beside the anchors, the
event-to-fulfilled curve, the plots, and the History, which keeps every earlier run (newest first).

Everything above KEPT_BELOW is rewritten on each run; everything below it is kept as it is, and the run's
summary line goes on top of the History there."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from bench._figures import paid_per_second

KEPT_BELOW = "<!-- bench/report.py keeps everything below this line; each run adds its line at the top of History -->"
HISTORY = "## History"


@dataclass
class Machine:
    cores: int
    model: str
    loop_seconds: float  # a 10-million-step Python loop: a gauge of the machine's speed

    @property
    def label(self) -> str:
        model = re.sub(r"\((R|TM|tm)\)|\s+(CPU|Processor)\b", "", self.model)
        return f"{self.cores} cores, {' '.join(model.split())}, loop {self.loop_seconds:.2f} s"


@dataclass
class Run:
    date: str
    commit: str
    machine: Machine
    quick: bool = False
    note: str = ""
    seconds: float | None = None  # how long the whole report took, benches and plots


@dataclass
class BenchResult:
    """One bench's invocation: `document` is its JSON (None when it did not run or failed, `status` says why)."""
    bench: str
    database: str | None
    command: str
    status: str = "ok"
    document: dict | None = None
    images: list = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.bench} ({self.database})" if self.database else self.bench


def number(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if unit == "x":
        return f"{value:.3f}x"
    unit = "/s" if unit == "1/s" else unit
    if float(value).is_integer() or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return text if not unit else f"{text}{unit}" if unit.startswith("/") else f"{text} {unit}"


def met_text(met) -> str:
    return {True: "met", False: "**not met**"}.get(met, "")


def goal_figures(results: list[BenchResult]) -> list[tuple[BenchResult, dict]]:
    return [(result, fig) for result in results if result.document
            for fig in result.document.get("figures", []) if fig.get("goal") is not None]


def current_table(run: Run, results: list[BenchResult]) -> str:
    when = f"{run.date}, {run.commit}, {run.machine.label}"
    rows = ["| bench | figure | value | goal | met? | command | date, commit, machine |",
            "|---|---|---|---|---|---|---|"]
    for result in results:
        command = f"`{result.command}`"
        if not result.document:
            rows.append(f"| {result.title} | {result.status} | | | | {command} | {when} |")
            continue
        for fig in result.document.get("figures", []):
            goal = fig.get("goal")
            rows.append(f"| {result.title} | {fig['name']} | {number(fig.get('value'), fig.get('unit', ''))} | "
                        f"{'' if goal is None else goal} | {met_text(fig.get('met'))} | {command} | {when} |")
    return "\n".join(rows)


def _series(results: list[BenchResult], bench: str) -> dict[str, dict]:
    return {result.database or "": result.document["series"] for result in results
            if result.bench == bench and result.document}


def ingest_table(results: list[BenchResult], webhook: str, bare: str, flask_bare: str, samples: str,
                 ratio_goal: float) -> str:
    runs = _series(results, "webhook_ingest")
    if not runs:
        return "Webhook ingest: not run."
    rows = [f"| database | this shop's webhook | samples webhook | shop / samples | this shop's bare /healthz | "
            f"bare Flask | samples / bare Flask | shop webhook / shop bare (goal >= {ratio_goal:g}) |",
            "|---|---|---|---|---|---|---|---|"]
    for database, series in runs.items():
        rate = series.get("throughput", {})
        shop, anchor = rate.get(webhook), rate.get(samples)
        ratio = lambda a, b: a / b if a and b else None  # noqa: E731
        rows.append(f"| {database} | {number(shop, 'req/s')} | {number(anchor, 'req/s')} | "
                    f"{number(ratio(shop, anchor), 'x')} | {number(rate.get(bare), 'req/s')} | "
                    f"{number(rate.get(flask_bare), 'req/s')} | {number(ratio(anchor, rate.get(flask_bare)), 'x')} | "
                    f"{number(ratio(shop, rate.get(bare)), 'x')} |")
    return "\n".join(rows)


def checkout_table(results: list[BenchResult]) -> str:
    shop_runs = _series(results, "checkout_stability")
    anchor = next(iter(_series(results, "anchor_checkout").values()), None)
    anchor_points = {point["shoppers"]: point for point in (anchor or {}).get("goodput", [])}
    rows = ["| shoppers | this shop: database | this shop: paid checkouts/s | samples shop: paid checkouts/s | "
            "shop / samples | turned away: this shop | turned away: samples shop |", "|---|---|---|---|---|---|---|"]
    for database, series in shop_runs.items() or {"not run": {}}.items():
        points = {point["shoppers"]: point for point in series.get("goodput", [])}
        for shoppers in sorted(set(points) | set(anchor_points)):
            shop, other = points.get(shoppers, {}), anchor_points.get(shoppers, {})
            shop_paid, other_paid = paid_per_second(shop), paid_per_second(other)
            ratio = shop_paid / other_paid if shop_paid is not None and other_paid else None
            rows.append(f"| {shoppers} | {database} | {number(shop_paid, '/s')} | {number(other_paid, '/s')} | "
                        f"{number(ratio, 'x')} | {number(shop.get('turned_away'))} | "
                        f"{number(other.get('turned_away'))} |")
    if len(rows) == 2:
        return "Checkout goodput: not run."
    lines = ["\n".join(rows)]
    for database, series in shop_runs.items():
        loaded = sorted(series.get("catalog_latency_ms", {}).get("loaded") or [])
        if loaded:
            lines.append(f"Catalog p99 with the first shopper count checking out, this shop ({database}): "
                         f"{number(loaded[min(len(loaded) - 1, int(0.99 * len(loaded)))], 'ms')}.")
    for database, series in shop_runs.items():
        for point in series.get("goodput", []):
            cost = point.get("cpu_ms_per_checkout")
            if cost:
                lines.append(f"CPU per paid checkout with {point['shoppers']} shoppers, this shop ({database}), ms "
                             f"by process (the pages and the catalog's client serve the catalog load): "
                             + ", ".join(f"{label} {ms:.1f}" for label, ms in cost.items()) + ".")
    for point in anchor_points.values():
        lines.append(f"Samples shop's catalog with {point['shoppers']} shoppers checking out: p99 "
                     f"{number(point.get('catalog_p99_ms'), 'ms')}, {point.get('catalog_errors', 0)} errors (a page "
                     f"not answered within 30 s counts as one); gunicorn {anchor.get('workers')} sync workers.")
    return "\n\n".join(lines)


def curve_table(results: list[BenchResult]) -> str:
    runs = _series(results, "event_to_fulfilled")
    if not runs:
        return "Event to fulfilled: not run."
    rows = ["| database | workers | events/s asked | arrived at | p50 ms | p99 ms | max ms | events |",
            "|---|---|---|---|---|---|---|---|"]
    for database, series in runs.items():
        for point in series.get("curve", []):
            rows.append(f"| {database} | {point['workers']} | {number(point['rate'])} | {number(point['achieved'])} | "
                        f"{number(point['p50'])} | {number(point['p99'])} | {number(point['max'])} | {point['n']} |")
    return "\n".join(rows)


def summary_line(run: Run, results: list[BenchResult], knee_ms: float = 500.0) -> str:
    goals = goal_figures(results)
    missed = [f"{fig['name']} ({result.database or result.bench}) {number(fig.get('value'), fig.get('unit', ''))}"
              for result, fig in goals if not fig.get("met")]
    not_run = [result.title for result in results if not result.document]
    kind = "quick run" if run.quick else "full run"
    parts = [f"**{run.date}, {run.commit}, {run.machine.label}** ({kind}{'; ' + run.note if run.note else ''}): "
             f"{len(goals) - len(missed)} of {len(goals)} goals met"]
    if missed:
        parts.append("not met: " + "; ".join(missed))
    knees = []
    for database, series in _series(results, "event_to_fulfilled").items():
        curve = series.get("curve", [])
        for workers in sorted({point["workers"] for point in curve}):
            under = [point["rate"] for point in curve if point["workers"] == workers and point["p99"] <= knee_ms]
            knees.append(f"{database} {workers} worker(s) {number(max(under), '/s') if under else 'none'}")
    if knees:
        parts.append("event to fulfilled, highest rate with p99 under 500 ms: " + ", ".join(knees))
    if not_run:
        parts.append("not run: " + ", ".join(not_run))
    return ". ".join(parts) + "."


def kept_part(old_text: str) -> str:
    """What the document keeps from its earlier version: everything below KEPT_BELOW (or, in a document written
    before the report existed, from its History heading on; failing that, the whole of it under History)."""
    if KEPT_BELOW in old_text:
        return old_text.split(KEPT_BELOW, 1)[1].strip("\n")
    if HISTORY in old_text:
        return HISTORY + old_text.split(HISTORY, 1)[1].rstrip("\n")
    return f"{HISTORY}\n\n{old_text.strip()}" if old_text.strip() else HISTORY


def with_entry(kept: str, entry: str) -> str:
    """The kept part with `entry` first in its History (a History heading is added if it has none)."""
    if HISTORY not in kept:
        kept = f"{HISTORY}\n\n{kept}".rstrip()
    before, after = kept.split(HISTORY, 1)
    return f"{before}{HISTORY}\n\n{entry}\n\n{after.lstrip(chr(10))}".rstrip("\n")
