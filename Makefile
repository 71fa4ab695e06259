# Set-up is part of every target: a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Test processes: one per core by default; `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= auto

.PHONY: demo test lint ui bench clean validate system-packages

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed  ## sample data + the whole pipeline on the embedded DuckDB
	$(BIN)/perf-pipeline demo

# Servers the tests start on 127.0.0.1 (PostgreSQL, Redis) and the browser they drive (Chromium),
# from Debian's packages when they are missing and this user may install them.
SYSTEM_PACKAGES := postgresql redis-server chromium fonts-liberation

system-packages:  ## Debian packages the tests need (installed only when missing)
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] \
		&& ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

test: $(BIN)/.installed system-packages  ## the code location, the test suite and the linter
	$(BIN)/dg check defs
	$(BIN)/dg list defs > /dev/null
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

validate: $(BIN)/.installed  ## check the models file: every problem named, exit 2 if any
	$(BIN)/perf-pipeline validate

ui: $(BIN)/.installed  ## the Dagster UI on the same data root and instance as the CLI
	$(BIN)/perf-pipeline ui

bench: $(BIN)/.installed  ## wall time and peak memory of the demo (see benchmarks/README.md)
	$(BIN)/python benchmarks/demo_benchmark.py

clean:
	rm -rf $(VENV) data/landing data/warehouse data/warehouse.duckdb data/reports data/alerts data/dagster_home
