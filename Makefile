# Two commands for a newcomer: `make run` and `make test`. Everything else is a tier of the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# Tests mostly wait on the servers they start, so more workers than cores pay; a file's tests stay on one worker
# (they share its module fixtures). Four workers made a browser test miss its 5 s wait on a loaded machine.
# PARALLEL= runs everything in one process.
PARALLEL ?= -n 3 --dist loadfile

.PHONY: run test test-unit test-integration test-system test-e2e test-emulator test-postgres bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	scripts/install-browser $(PY)
	scripts/install-test-tools
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/shop dev

# Every tier, one after another, each on its xdist workers, saying how long it took.
test: $(VENV)/.test-installed
	@for tier in unit integration system emulator e2e; do start=$$(date +%s); \
	  $(MAKE) --no-print-directory test-$$tier || exit 1; \
	  echo "== tests/$$tier took $$(( $$(date +%s) - start )) s"; done

test-unit: $(VENV)/.test-installed
	$(PYTEST) tests/unit

test-integration: $(VENV)/.test-installed
	$(PYTEST) $(PARALLEL) tests/integration

test-system: $(VENV)/.test-installed
	$(PYTEST) $(PARALLEL) tests/system

test-e2e: $(VENV)/.test-installed
	$(PYTEST) $(PARALLEL) tests/e2e

test-emulator: $(VENV)/.test-installed
	$(PYTEST) $(PARALLEL) tests/emulator

# The production profile: PostgreSQL and Redis already running (as on CI). It runs the tiers whose outcome the
# database can change; the unit, browser and emulator tests do the same on either.
test-postgres: $(VENV)/.test-installed
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	TEST_REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} $(PYTEST) $(PARALLEL) tests/integration tests/system

$(VENV)/.bench-installed: $(VENV)/.test-installed
	$(PY) -m pip install -q -e '.[bench]'
	touch $@

# Every bench, then docs/benchmarks.md and its plots (docs/img/bench/) from their figures: about half an hour on two
# cores. PostgreSQL at BENCH_DATABASE_URL (each bench creates a database of its own beside it). BENCH_ARGS adds
# options of bench/report.py, such as --note "what else ran on the machine".
BENCH_ARGS ?=
bench: $(VENV)/.bench-installed
	$(PY) -m bench.report $(BENCH_ARGS)

# The same page from a reduced run (shorter phases, fewer rates, SQLite only), meant to take under two minutes.
bench-quick: $(VENV)/.bench-installed
	$(PY) -m bench.report --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache test-results
