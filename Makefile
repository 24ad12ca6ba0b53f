# SyncHub: `make demo` and `make test` are the two commands of the README's quickstart.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg

.PHONY: demo test test-fast e2e-airflow browser bench bench-connectors bench-master-data bench-match lint venv clean

venv: $(STAMP)

# Create .venv when missing and (re)install the pins whenever requirements or the project change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/synchub demo

test: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist loadgroup

# Every test that starts no sandbox (tests/conftest.py marks the others `integration`): the quick check
# while working; `make test` stays the full suite.
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist worksteal -q -m "not integration"

# A real Airflow 3 (API server, scheduler, DAG processor; LocalExecutor, metastore on PostgreSQL) running
# the four DAGs against the sandboxes; part of `make test` too.
e2e-airflow: $(STAMP)
	$(PY) -m pytest -q tests/e2e

# The admin view's browser test drives Debian's Chromium (/usr/bin/chromium) through Playwright (pinned
# in requirements.txt; Playwright's own browser download is not used). Installs it when missing.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's chromium for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else \
	  echo "$(CHROMIUM) is missing: install Debian's chromium as root" \
	       "(apt-get update && apt-get install -y --no-install-recommends chromium);" \
	       "the browser test fails under CI=true and skips otherwise." >&2; \
	fi

bench: $(STAMP)
	$(PY) -m bench.sandbox_reads

bench-connectors: $(STAMP)
	$(PY) -m bench.connectors

bench-master-data: $(STAMP)
	$(PY) -m bench.master_data

# Match quality and speed next to Splink 5 (its pins are the benchmark's own, bench/requirements-splink.txt).
bench-match: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements-splink.txt
	$(PY) -m bench.match_quality

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var logs .pytest_cache
