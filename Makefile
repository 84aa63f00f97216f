# Two commands on a fresh machine:  `make up`  (platform + demo data)  and  `make test`  (the suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test test-fast lint lint-fast clean-install bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/agentotel up --demo

# The checks that run before any test: ruff; the layer contracts (import-linter on tools/package_tree.py's
# tree); shipped code: every import declared, in pyproject.toml ([tool.deptry]); tests and benchmarks: nothing
# imported that is not declared (the dev/bench groups count there). `lint` adds mypy over the whole package
# (about 40 s cold, a few seconds warm); `test-fast` runs the quick checks only.
lint-fast: $(STAMP)
	$(BIN)/ruff check .
	cd $$($(BIN)/python tools/package_tree.py) && PYTHONPATH=. $(CURDIR)/$(BIN)/lint-imports --no-cache $(CURDIR)/.importlinter
	$(BIN)/deptry .
	$(BIN)/deptry tests benchmarks -kf agentotel -kf tests -kf benchmarks --exclude '\.venv' --ignore DEP002,DEP004

lint: lint-fast
	cd $$($(BIN)/python tools/package_tree.py) && MYPYPATH=. $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml --cache-dir $(CURDIR)/.mypy_cache -p agentotel

# Everything (what CI runs), on four workers (pytest-xdist: each test has its own database, ports and temporary
# directory) for two cores: the tests mostly wait (subprocesses, sockets, fsync, demo minutes), so two workers kept
# about one core busy (9m05s, 575 CPU-s); four fill both (6m09s). worksteal keeps them busy to the end.
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
WORKERS ?= 4
test: lint
	$(PYTEST) -n $(WORKERS) --dist worksteal

# The quick loop, under 90 s: no browser, no subprocess soaks, no long end-to-end runs (the `slow` marker), and
# SQLite only (`postgres` marks every test run on PostgreSQL; `make test` runs both). Two workers: these tests
# mostly compute, and each worker first imports the whole suite (about 23 CPU-s): four took 126-139 s, two 101 s.
FAST_WORKERS ?= 2
test-fast: lint-fast
	$(PYTEST) -n $(FAST_WORKERS) --dist worksteal -m "not slow and not postgres"

# The wheel in fresh virtual environments, as a user installs it (.ci/run runs it on CI).
clean-install:
	$(PYTHON) .ci/clean-install

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
