# SyncHub: `make demo` and `make test` are the two commands of the README's quickstart.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)
export AIRFLOW_CONFIG := $(CURDIR)/airflow.cfg

.PHONY: demo test bench bench-connectors bench-master-data lint venv clean

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

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup

bench: $(STAMP)
	$(PY) -m bench.sandbox_reads

bench-connectors: $(STAMP)
	$(PY) -m bench.connectors

bench-master-data: $(STAMP)
	$(PY) -m bench.master_data

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf var logs .pytest_cache
