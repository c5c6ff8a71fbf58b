# Two commands do all the setup on a fresh machine:
#   make up     install into .venv, then run everything on embedded defaults (`catalog up`)
#   make test   install what the tests need (engines from apt and Maven Central, .venv), lint,
#               then run the whole suite
# And one for trying the production search adapter without Docker:
#   make opensearch   the tests' OpenSearch node in the foreground on 127.0.0.1:$(OPENSEARCH_PORT)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OPENSEARCH_NODE := tests/engines/opensearch
OPENSEARCH_BUILT := $(OPENSEARCH_NODE)/target/classpath.txt
OPENSEARCH_PORT ?= 9200
OPENSEARCH_HOME ?= .catalog-data/opensearch-node

.PHONY: up test lint test-deps opensearch

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/catalog up

# The engines the suite starts itself (PostgreSQL, MariaDB, Chromium, a JDK and Maven) from
# Debian's packages; a no-op once they are there.
test-deps:
	scripts/test-deps

# The OpenSearch node's launcher and its classpath; Maven keeps the jars in ~/.m2, and make
# rebuilds only when the pom or the launcher changes.
$(OPENSEARCH_BUILT): $(OPENSEARCH_NODE)/pom.xml $(wildcard $(OPENSEARCH_NODE)/src/main/java/*/*/*.java)
	mvn -q -B -Dstyle.color=never -f $(OPENSEARCH_NODE)/pom.xml package
	touch $@

opensearch: $(OPENSEARCH_BUILT)
	mkdir -p $(OPENSEARCH_HOME)/tmp
	$(OPENSEARCH_NODE)/run $(OPENSEARCH_HOME) $(OPENSEARCH_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: test-deps $(OPENSEARCH_BUILT) lint
	$(BIN)/pytest
