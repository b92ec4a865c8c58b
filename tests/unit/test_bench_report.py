"""bench/report.py's document: goals met or not as measured, benches that did not run said so, and the History
kept whole with each run's line on top."""
import pytest

from bench._document import (KEPT_BELOW, BenchResult, Machine, Run, checkout_table, current_table, kept_part,
                             summary_line, with_entry)
from bench._figures import figure

RUN = Run("2026-12-01 10:00 UTC", "abc1234+dirty", Machine(2, "Intel(R) Xeon(R) Processor @ 2.00GHz", 0.41))


def ingest(ratio):
    return BenchResult("webhook_ingest", "SQLite", "python -m bench.webhook_ingest", document={
        "figures": [figure("webhook / bare", ratio, "x", 0.62, ">="), figure("webhook p99", 30.0, "ms", 25, "<=")],
        "series": {}})


def test_a_figure_meets_its_goal_only_on_the_right_side_of_it():
    assert figure("ratio", 0.62, "x", 0.62, ">=")["met"] is True
    assert figure("ratio", 0.619, "x", 0.62, ">=")["met"] is False
    assert figure("p99", 25.1, "ms", 25, "<=")["met"] is False
    assert figure("p99", float("nan"), "ms", 25, "<=") == {"name": "p99", "value": None, "unit": "ms",
                                                            "goal": "<= 25", "met": False}
    assert figure("rate", 100.0, "/s")["met"] is None


def test_the_table_says_not_met_and_names_the_run_and_the_benches_that_did_not_run():
    absent = BenchResult("checkout_stability", "SQLite", "python -m bench.checkout_stability",
                         status="not run (without --json)")
    table = current_table(RUN, [ingest(0.5), absent])
    rows = table.splitlines()[2:]
    assert rows[0].startswith("| webhook_ingest (SQLite) | webhook / bare | 0.500x | >= 0.62 | **not met** |")
    assert "2026-12-01 10:00 UTC, abc1234+dirty, 2 cores, Intel Xeon @ 2.00GHz, loop 0.41 s" in rows[0]
    assert rows[2].startswith("| checkout_stability (SQLite) | not run (without --json) |")


def test_the_summary_counts_goals_and_lists_those_missed():
    line = summary_line(RUN, [ingest(0.7)])
    assert line.startswith("**2026-12-01 10:00 UTC, abc1234+dirty, 2 cores")
    assert "1 of 2 goals met" in line and "not met: webhook p99 (SQLite) 30 ms" in line


def test_the_checkout_table_puts_the_shop_beside_the_samples_shop():
    shop = BenchResult("checkout_stability", "SQLite", "", document={"figures": [], "series": {
        "goodput": [{"shoppers": 50, "paid_per_s": 24.0, "turned_away": 0, "goal_per_s": 22.5}]}})
    anchor = BenchResult("anchor_checkout", None, "", document={"figures": [], "series": {
        "goodput": [{"shoppers": 50, "paid_per_second": 2.0, "turned_away": 0}], "workers": 5}})
    assert "| 50 | SQLite | 24/s | 2/s | 12.000x | 0 | 0 |" in checkout_table([shop, anchor])


def test_the_checkout_table_says_where_a_checkouts_cpu_went():
    shop = BenchResult("checkout_stability", "PostgreSQL", "", document={"figures": [], "series": {
        "goodput": [{"shoppers": 50, "paid_per_s": 15.0, "turned_away": 0, "goal_per_s": 22.5,
                     "cpu_ms_per_checkout": {"payments pool": 54.5, "RQ worker": 21.0}}]}})
    assert ("CPU per paid checkout with 50 shoppers, this shop (PostgreSQL), ms by process (the pages and the "
            "catalog's client serve the catalog load): payments pool 54.5, RQ worker 21.0.") in checkout_table([shop])


def test_a_bench_not_run_leaves_the_anchor_alone_in_the_checkout_table():
    anchor = BenchResult("anchor_checkout", None, "", document={"figures": [], "series": {
        "goodput": [{"shoppers": 50, "paid_per_second": 2.5, "turned_away": 0}], "workers": 5}})
    absent = BenchResult("checkout_stability", "SQLite", "", status="not run (quick)")
    assert "| 50 | not run | n/a | 2.5/s | n/a | n/a | 0 |" in checkout_table([absent, anchor])


def test_the_history_keeps_every_earlier_entry_and_takes_the_new_one_on_top():
    earlier = (f"# Benchmarks\n\nold table\n\n{KEPT_BELOW}\n\n## History\n\n**second run**\n\n**first run**\n\n"
               "## Tried and not kept\n\nnotes\n")
    kept = with_entry(kept_part(earlier), "**third run**")
    assert "old table" not in kept
    assert kept.index("**third run**") < kept.index("**second run**") < kept.index("**first run**")
    assert kept.endswith("## Tried and not kept\n\nnotes")


def test_a_document_from_before_the_report_is_kept_whole():
    assert with_entry(kept_part("# Benchmarks\n\nhand-written figures\n"), "**new**") == (
        "## History\n\n**new**\n\n# Benchmarks\n\nhand-written figures")


def test_plots_are_small_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from bench import _plots

    curve = [{"workers": w, "rate": r, "p99": r / w, "achieved": r, "p50": 1.0, "max": 1.0, "n": 1}
             for w in (1, 2) for r in (100, 200, 400)]
    path = _plots.event_to_fulfilled({"SQLite": curve}, tmp_path / "curve.png", 500)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 80_000
    assert _plots.goodput({}, None, tmp_path / "none.png") is None
