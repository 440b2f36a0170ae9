# Two commands: `make demo` and `make test`. Both create .venv on first use and install the
# project into it, so a fresh clone needs nothing but Python 3.11+ and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,spark]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/finops demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy agent tools warehouse guardrails prompts evals bench

pytest: $(STAMP)
	scripts/pg-test-server ensure
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .finops .pytest_cache .mypy_cache .ruff_cache
