# One command to check, one to test, one to run. Each creates the virtual
# environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run check test test-fast bench format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,fuse]'
	touch $(STAMP)

venv: $(STAMP)

## Serve hotplugd on its embedded defaults (SQLite in ./data, built-in layout).
run: $(STAMP)
	$(BIN)/python -m app

## Style, types and layer boundaries.
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy app clients
	$(BIN)/lint-imports
	$(BIN)/hadolint docker/Dockerfile

## The checks, then the whole test suite with branch coverage
## (100% required for the pure core: app/chain and app/memory).
test: check
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage combine -q
	$(BIN)/coverage report --include='app/chain/*,app/memory/*' --fail-under=100
	$(BIN)/coverage report --fail-under=80

## Only the tests, without coverage (for a quick loop).
test-fast: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

## The benchmarks of issue 7 (tests/bench; not part of the test suite):
## tables on stdout, JSON in tests/bench/results/. BENCH_ARGS=--quick for a
## short run (< 2 min), --profile to sample hotplugd with py-spy.
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python tests/bench/run.py $(BENCH_ARGS)

## The long hardening variants: 100 crash cycles per backend, 60 s of load,
## 100,000 transitions of history retention (tests/hardening).
.PHONY: soak
soak: $(STAMP)
	HOTPLUG_SOAK=1 $(BIN)/pytest tests/hardening -q

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .coverage .coverage.* .mypy_cache .ruff_cache .pytest_cache
