# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# 10,000 hypothesis examples per parser in CI; override for quick local runs.
VIGIL_FUZZ_EXAMPLES ?= 10000
export VIGIL_FUZZ_EXAMPLES

.PHONY: demo test lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	scripts/debian-packages demo
	$(BIN)/vigil demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy --strict src
	$(BIN)/lint-imports

# The property suite is pure CPU (hypothesis), so it runs on every core; the rest
# starts servers and measures timeouts, so it runs one test at a time.
test: lint
	scripts/debian-packages test
	$(BIN)/pytest -n auto tests/property
	$(BIN)/pytest --ignore=tests/property

bench: $(VENV)/.installed
	$(BIN)/python bench/core.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
