"""The report's plots: small PNGs (matplotlib, Agg), each drawn from the benches' JSON series. Each function
takes the loaded JSON documents (None for a bench not run) and returns the file written, or None when there
was nothing to draw."""
from __future__ import annotations

from pathlib import Path

from bench._figures import paid_per_second

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402

SIZE = (7.0, 3.8)
DPI = 90
WORKER_COLOURS = {1: "tab:blue", 2: "tab:orange", 4: "tab:green", 8: "tab:red"}
DATABASE_STYLES = {"SQLite": "-", "PostgreSQL": "--"}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _cumulative(latencies: list[float]):
    ordered = sorted(latencies)
    return ordered, [100 * (n + 1) / len(ordered) for n in range(len(ordered))]


def latency_distributions(stability: dict | None, anchor: dict | None, path: Path) -> Path | None:
    """The catalog's latency, idle and while shoppers check out: this shop beside the samples-shaped shop, as
    cumulative distributions; the goal (loaded p99 within 1.25x the idle p99) as a vertical line."""
    curves = []
    if stability:
        series = stability["series"].get("catalog_latency_ms", {})
        curves += [("this shop, idle", series.get("idle"), "tab:blue", "-"),
                   ("this shop, shoppers checking out", series.get("loaded"), "tab:blue", "--")]
    if anchor:
        series = anchor["series"].get("catalog_ms", {})
        curves += [("samples shop, idle", series.get("idle"), "tab:red", "-"),
                   ("samples shop, shoppers checking out", series.get("loaded"), "tab:red", "--")]
    curves = [curve for curve in curves if curve[1]]
    if not curves:
        return None
    fig, axes = plt.subplots(figsize=SIZE)
    for label, latencies, colour, style in curves:
        axes.plot(*_cumulative(latencies), style, color=colour, label=label)
    if stability and stability["series"].get("catalog_latency_ms", {}).get("idle"):
        idle = sorted(stability["series"]["catalog_latency_ms"]["idle"])
        idle_p99 = idle[min(len(idle) - 1, int(0.99 * len(idle)))]
        axes.axvline(1.25 * idle_p99, color="grey", linestyle=":", label="goal: loaded p99 <= 1.25 x idle p99")
    axes.axhline(99, color="lightgrey", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("catalog (GET /) latency, ms (log scale)")
    axes.set_ylabel("requests answered within, %")
    axes.set_title("Catalog latency, idle and under checkout load")
    axes.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def goodput(stability_runs: dict[str, dict], anchor: dict | None, path: Path) -> Path | None:
    """Paid checkouts per second against the number of shoppers, Stripe answering in 2 s: this shop (per
    database), the samples-shaped shop, what one Stripe round trip per shopper allows, and the goal."""
    lines = []
    for database, document in stability_runs.items():
        points = document["series"].get("goodput") or []
        lines.append((f"this shop ({database})", points, "o-", None))
    if anchor:
        lines.append(("samples shop", anchor["series"].get("goodput") or [], "s-", "tab:red"))
    lines = [line for line in lines if line[1]]
    if not lines:
        return None
    latency_s = (anchor or {}).get("series", {}).get("stripe_latency_ms", 2000) / 1000
    shoppers = [point["shoppers"] for _, points, *_ in lines for point in points]
    fig, axes = plt.subplots(figsize=SIZE)
    for label, points, style, colour in lines:
        points = sorted(points, key=lambda point: point["shoppers"])
        axes.plot([point["shoppers"] for point in points], [paid_per_second(point) for point in points], style,
                  color=colour, label=label)
    span = [0, 1.1 * max(shoppers)]
    axes.plot(span, [n / latency_s for n in span], color="lightgrey", label="shoppers / Stripe latency")
    axes.plot(span, [0.9 * n / latency_s for n in span], ":", color="grey",
              label="goal: 0.9 x shoppers / Stripe latency")
    axes.set_xlim(span)
    axes.set_xlabel("shoppers checking out at once")
    axes.set_ylabel("paid checkouts per second")
    axes.set_title(f"Goodput with Stripe answering in {latency_s:g} s")
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=8)
    return _save(fig, path)


def ingest(ingest_runs: dict[str, dict], path: Path, labels: list[str], webhook: str, bare: str,
           ratio_goal: float) -> Path | None:
    """Requests per second of each endpoint, grouped by database; the goal (webhook at least ratio_goal x this
    shop's bare endpoint) as a short line over the webhook's bar."""
    if not ingest_runs:
        return None
    fig, axes = plt.subplots(figsize=SIZE)
    width = 0.8 / len(labels)
    tallest = 0.0
    colours = ["tab:grey", "tab:blue", "silver", "tab:red"]
    for group, (database, document) in enumerate(ingest_runs.items()):
        throughput = document["series"].get("throughput", {})
        for n, label in enumerate(labels):
            x = group + (n - (len(labels) - 1) / 2) * width
            tallest = max(tallest, throughput.get(label, 0))
            axes.bar(x, throughput.get(label, 0), width, color=colours[n % len(colours)],
                     label=label if group == 0 else None)
            if label == webhook and bare in throughput:
                axes.hlines(ratio_goal * throughput[bare], x - width / 2, x + width / 2, colors="black",
                            linestyles=":", label=f"goal: {ratio_goal:g} x bare /healthz" if group == 0 else None)
    axes.set_xticks(range(len(ingest_runs)), list(ingest_runs))
    axes.set_ylim(0, 1.45 * tallest or 1)  # room for the legend above the bars
    axes.set_ylabel("requests per second")
    axes.set_title("Webhook ingest beside the anchors (same gunicorn shape, same run)")
    axes.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def event_to_fulfilled(curves: dict[str, list[dict]], path: Path, goal_ms: float) -> Path | None:
    """p99 from receipt to fulfilment against the rate of events, one line per database and worker count."""
    if not any(curves.values()):
        return None
    fig, axes = plt.subplots(figsize=SIZE)
    for database, curve in curves.items():
        for workers in sorted({point["workers"] for point in curve}):
            points = sorted((point for point in curve if point["workers"] == workers), key=lambda p: p["rate"])
            axes.plot([point["rate"] for point in points], [point["p99"] for point in points], "o",
                      linestyle=DATABASE_STYLES.get(database, "-"), color=WORKER_COLOURS.get(workers),
                      label=f"{database}, {workers} worker{'s' if workers > 1 else ''}")
    axes.axhline(goal_ms, color="grey", linestyle=":", label=f"{goal_ms:g} ms: the knee")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    rates = sorted({point["rate"] for curve in curves.values() for point in curve})
    axes.set_xticks(rates, [f"{rate:g}" for rate in rates])
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_major_formatter(ScalarFormatter())
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("events per second sent (log scale)")
    axes.set_ylabel("p99 received -> fulfilled, ms (log)")
    axes.set_title("Event to fulfilled: p99 against rate and workers")
    axes.legend(fontsize=7)
    return _save(fig, path)
