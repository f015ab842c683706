# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo bench test lint typecheck contracts rules browser pytest install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,sandbox]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/consent-sync demo

bench: $(STAMP)                              # docs/performance.md; BENCH_ARGS=--quick, --contacts 1000000
	$(BIN)/consent-sync bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

contracts: $(STAMP)                          # the import contract in pyproject.toml
	$(BIN)/lint-imports

rules:                                       # deploy/prometheus: alert rules and their unit tests
	command -v promtool >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus)
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts.test.yml

browser:                                     # the console's browser tests drive Debian's chromium
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# Two workers (pytest-xdist; a file's tests stay together, in order, on one), then the tests
# marked `serial` alone; exit 5 is "none selected".
PYTEST_WORKERS ?= 2
pytest: $(STAMP) browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS)
	$(BIN)/pytest -m serial $(PYTEST_ARGS) || test $$? -eq 5

test: lint typecheck contracts rules browser pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
