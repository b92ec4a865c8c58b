"""Run the benches and write docs/benchmarks.md: the current table (each figure with its goal, met or not, the
command, the date, commit and machine), the figures beside the anchors, the event-to-fulfilled curve, plots in
docs/img/bench/, and a History that keeps every earlier run.

    .venv/bin/python -m bench.report [--quick] [--postgres URL] [--note TEXT] [--json-dir DIR]
        [--stability | --no-stability]
`make bench` runs it in full (both databases; about half an hour on a 2-core machine); `make bench-quick` runs
`--quick`: shorter phases, fewer rates, SQLite only, marked "quick" in the document. Each bench writes its figures
with `--json PATH` into --json-dir (a temporary directory unless given). bench/checkout_stability.py runs when it
accepts --json (by default not in a quick run, which would then take more than two minutes); when it does not
run, its rows say so and the plots drawn from it show the anchor alone.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import _plots
from bench._figures import DEFAULT_POSTGRES
from bench._document import (KEPT_BELOW, BenchResult, Machine, Run, checkout_table, current_table, curve_table,
                             ingest_table, kept_part, summary_line, with_entry)
from bench.event_to_fulfilled import P99_GOAL_MS
from bench.webhook_ingest import BARE, FLASK_BARE, RATIO_GOAL, SAMPLES, WEBHOOK

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "benchmarks.md"
IMAGES = ROOT / "docs" / "img" / "bench"
BENCH_TIMEOUT = 3600  # seconds: a bench that hangs fails its rows instead of the whole report

BOTH, POSTGRES_ONLY, NO_DATABASE = ("SQLite", "PostgreSQL"), ("PostgreSQL",), (None,)
# (bench, the databases it runs on, full arguments, quick arguments)
PLAN = [
    ("emulator_throughput", NO_DATABASE, [], ["--seconds", "3", "--count", "0"]),
    ("webhook_ingest", BOTH, [], ["--seconds", "2"]),
    ("two_hosts", POSTGRES_ONLY, [], ["--seconds", "2"]),
    ("anchor_checkout", NO_DATABASE, ["--shoppers", "50,200"], ["--seconds", "2", "--shoppers", "50"]),
    ("checkout_stability", BOTH, ["--shoppers", "50,200"], ["--shoppers", "50", "--seconds", "2"]),
    ("event_to_fulfilled", BOTH, ["--sweep"],
     ["--sweep", "--rates", "100,800", "--worker-counts", "2", "--seconds", "2"]),
]


def machine() -> Machine:
    model = "unknown model"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    started = time.perf_counter()
    total = 0
    for step in range(10_000_000):
        total += step
    return Machine(os.cpu_count() or 1, model, time.perf_counter() - started)


def commit() -> str:
    git = lambda *args: subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if git("status", "--porcelain") else "")


def accepts_json(bench: str) -> bool:
    result = subprocess.run([sys.executable, "-m", f"bench.{bench}", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    return "--json" in result.stdout


def postgres_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def run_bench(bench: str, database: str | None, args: list[str], json_dir: Path, postgres: str | None) -> BenchResult:
    shown = ["python", "-m", f"bench.{bench}", *args] + (["--postgres", "URL"] if postgres else [])
    result = BenchResult(bench, database, " ".join(shown))
    path = json_dir / f"{bench}{'-' + database.lower() if database else ''}.json"
    path.unlink(missing_ok=True)
    print(f"== {result.command}", flush=True)
    command = [sys.executable, "-m", f"bench.{bench}", *args, *(["--postgres", postgres] if postgres else []),
               "--json", str(path)]
    started = time.monotonic()
    try:
        code = subprocess.run(command, cwd=ROOT, timeout=BENCH_TIMEOUT).returncode
    except subprocess.TimeoutExpired:
        code = "timeout"
    print(f"== {bench} took {time.monotonic() - started:.0f} s", flush=True)
    if code == 0 and path.exists():
        result.document = json.loads(path.read_text())
    else:
        result.status = f"failed (exit {code})"
    return result


def run_all(quick: bool, postgres: str, stability: bool, json_dir: Path) -> list[BenchResult]:
    reachable = not quick and postgres_reachable(postgres)
    stability_json = stability and accepts_json("checkout_stability")
    results = []
    for bench, databases, full_args, quick_args in PLAN:
        for database in databases:
            args = quick_args if quick else full_args
            if bench == "checkout_stability" and not stability_json:
                why = "not run (without --json)" if stability else "not run (quick)"
                results.append(BenchResult(bench, database, " ".join(["python -m bench.checkout_stability", *args]),
                                           status=why))
                continue
            if database == "PostgreSQL" and not reachable:
                why = "not run (quick: SQLite only)" if quick else "not run (PostgreSQL not reachable)"
                results.append(BenchResult(bench, database, " ".join(["python -m", f"bench.{bench}", *args,
                                                                      "--postgres URL"]), status=why))
                continue
            results.append(run_bench(bench, database, args, json_dir, postgres if database == "PostgreSQL" else None))
    return results


def draw(results: list[BenchResult]) -> list[tuple[str, str]]:
    """The plots as (file name, what it shows); a plot with nothing to draw is removed, never left stale."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    documents = lambda bench: {r.database or "": r.document for r in results if r.bench == bench and r.document}  # noqa: E731
    stability, anchor = documents("checkout_stability"), documents("anchor_checkout").get("")
    first_stability = next(iter(stability.values()), None)
    ingest = documents("webhook_ingest")
    curves = {database: document["series"].get("curve", []) for database, document
              in documents("event_to_fulfilled").items()}
    plots = [
        ("latency.png", "Catalog latency, idle and while shoppers check out (this shop and the samples shop)",
         lambda path: _plots.latency_distributions(first_stability, anchor, path)),
        ("goodput.png", "Paid checkouts per second against shoppers, Stripe at 2 s",
         lambda path: _plots.goodput(stability, anchor, path)),
        ("ingest.png", "Webhook ingest beside the anchors",
         lambda path: _plots.ingest(ingest, path, [BARE, WEBHOOK, FLASK_BARE, SAMPLES], WEBHOOK, BARE, RATIO_GOAL)),
        ("event_to_fulfilled.png", "Event to fulfilled: p99 against rate and workers",
         lambda path: _plots.event_to_fulfilled(curves, path, P99_GOAL_MS)),
    ]
    drawn = []
    for name, caption, plot in plots:
        path = IMAGES / name
        if plot(path):
            drawn.append((name, caption))
        else:
            path.unlink(missing_ok=True)
    return drawn


INTRO = """# Benchmarks

Each script under `bench/` starts what it measures on 127.0.0.1 (gunicorn, RQ workers, a Valkey of its own,
the emulator), prints its figures and stops; `--json PATH` also writes them as JSON. `make bench` runs them all
through `bench/report.py` and rewrites this page down to the History; `make bench-quick` runs a reduced version
(shorter phases, fewer rates, SQLite only, no checkout bench unless `--stability`) meant to take under two
minutes, marked "quick" below; each run's heading says how long it took. Figures from a quick run,
or from a machine doing other work, say little: compare runs on the same quiet machine (the Python loop's time
is a gauge of its speed). No test asserts a time; a figure that misses its goal says "not met".

```sh
make bench                                                        # everything, both databases, this page
make bench-quick                                                  # the same page from a reduced run
.venv/bin/python -m bench.webhook_ingest [--postgres URL]         # signed deliveries/s beside /healthz and the anchors
.venv/bin/python -m bench.two_hosts [--postgres URL]              # two web hosts on one PostgreSQL and Redis
.venv/bin/python -m bench.event_to_fulfilled [--sweep] [--postgres URL]  # receipt -> fulfilled; --sweep: the knee
.venv/bin/python -m bench.checkout_stability [--postgres URL]     # catalog p99 and goodput while shoppers check out
.venv/bin/python -m bench.anchor_checkout                         # the samples-shaped shop under the same load
.venv/bin/python -m bench.emulator_throughput                     # the emulator's create+confirm/s and memory
bench/lighthouse.sh                                               # Lighthouse (mobile) on every page of `make run`
```

`URL` is a PostgreSQL URL (`postgresql+psycopg://...`; each bench creates a database of its own beside it);
without it the shop runs on SQLite. The anchors (`bench/anchors/`) are what a user would pick instead: a bare
Flask endpoint, a webhook shaped like Stripe's samples (verify the signature, nothing stored, nothing queued) and
a shop shaped like them (the PaymentIntent created inside the request, on gunicorn's sync workers), measured in
the same harness and the same run as the shop's figures."""


def document(run: Run, results: list[BenchResult], images: list[tuple[str, str]], old_text: str) -> str:
    heading = f"**{run.date}, {run.commit}**, {'quick run' if run.quick else 'full run'}"
    if run.seconds is not None:
        heading += f" ({run.seconds:.0f} s in all)"
    machine_line = (f"Machine: {run.machine.cores} cores, {run.machine.model}; a 10-million-step Python loop took "
                    f"{run.machine.loop_seconds:.2f} s.")
    plots = "\n\n".join(f"![{caption}](img/bench/{name})" for name, caption in images) or "No plots: nothing ran."
    sections = [
        INTRO,
        "## Current figures",
        heading + (f". {run.note}" if run.note else "") + "\n\n" + machine_line,
        current_table(run, results),
        "## Beside the alternatives",
        "### Webhook ingest (same gunicorn shape, same run)",
        ingest_table(results, WEBHOOK, BARE, FLASK_BARE, SAMPLES, RATIO_GOAL),
        "### Checkout while Stripe answers in 2 s",
        checkout_table(results),
        "### Event to fulfilled, rate against workers",
        f"Rates rise per worker count until p99 passes {P99_GOAL_MS:g} ms (or the events reach the shop at "
        "under 0.8x the rate asked: \"arrived at\" is the rate at which the shop stored them).\n\n"
        + curve_table(results),
        "## Plots",
        plots,
        KEPT_BELOW,
        with_entry(kept_part(old_text), summary_line(run, results)),
    ]
    return "\n\n".join(sections) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter phases, fewer rates, SQLite only")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES),
                        help="the PostgreSQL server's URL (each bench creates its own database beside it)")
    parser.add_argument("--note", default="", help="a sentence for this run's History line (e.g. the machine's load)")
    parser.add_argument("--json-dir", default=None,
                        help="where the benches write their JSON (default: a temporary directory)")
    stability = parser.add_mutually_exclusive_group()
    stability.add_argument("--stability", dest="stability", action="store_true", default=None,
                           help="run bench/checkout_stability.py (default: yes, except in a quick run)")
    stability.add_argument("--no-stability", dest="stability", action="store_false")
    args = parser.parse_args()
    started = time.monotonic()
    run = Run(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), commit(), machine(), args.quick, args.note)
    json_dir = Path(args.json_dir or tempfile.mkdtemp(prefix="bench-report-"))
    json_dir.mkdir(parents=True, exist_ok=True)
    with_stability = args.stability if args.stability is not None else not args.quick
    results = run_all(args.quick, args.postgres, with_stability, json_dir)
    images = draw(results)
    run.seconds = time.monotonic() - started
    old_text = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    DOCUMENT.write_text(document(run, results, images, old_text))
    print(f"wrote {DOCUMENT.relative_to(ROOT)} and {len(images)} plots in {IMAGES.relative_to(ROOT)} "
          f"({time.monotonic() - started:.0f} s; the JSON is in {json_dir})")


if __name__ == "__main__":
    main()
