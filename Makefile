# Two commands do all set-up on a fresh machine:
#   make run   - install into .venv, start the gateway on embedded PostgreSQL with seed data
#   make test  - install dev tools, run ruff, mypy, import contracts and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run demo test lint typecheck contracts pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/interview-gateway serve --seed

demo: $(VENV)/.installed
	$(BIN)/interview-gateway demo --page

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

contracts: $(VENV)/.installed-dev
	$(BIN)/lint-imports

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

test: lint typecheck contracts pytest

bench: $(VENV)/.installed-dev
	$(BIN)/interview-gateway-bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
