# Two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch==2.13.0 is pinned in pyproject: its CPU wheel; other torch specs pull CUDA builds.
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m webapp.devstack.launcher

# Test processes (pytest-xdist), each given whole files: most of a test's time is spent waiting
# on the processes it started (workers, torchrun, chromium, daphne), and each keeps torch at one
# thread (tests/conftest.py). Two took 378-527 s against 582-882 s in one process on 2 cores
# (docs/benchmarks.md, "The test suite"); TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

# Everything, as CI runs it (.ci/run): browser journeys, outages, crash and restart tests.
test: install
	$(PY) -m pytest $(XDIST)

# The inner loop: everything but the browser and the tests marked slow (each several seconds
# to minutes: whole stacks, worker processes, outages, torchrun); `make test` before a merge.
test-fast: install
	$(PY) -m pytest $(XDIST) -m "not browser and not slow"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
