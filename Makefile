# Two commands do all the setup on a fresh machine:
#   make up     install into .venv, then run everything on embedded defaults (`catalog up`)
#   make test   install what the tests need (engines from apt, .venv), lint, run the whole suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint test-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/catalog up

# The engines the suite starts itself (PostgreSQL, MariaDB, Chromium) from Debian's packages;
# a no-op once they are there.
test-deps:
	scripts/test-deps

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: test-deps lint
	$(BIN)/pytest
