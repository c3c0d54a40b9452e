# One entry point for the project's habits. Every target creates .venv first
# when it is missing, so a fresh clone needs nothing but Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test test-fast lint typecheck bench openapi schemas install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

## serve: run the service on the embedded default (SQLite + in-memory state)
serve: $(VENV)/.installed
	$(BIN)/agentos serve --host $(HOST) --port $(PORT)

## test: the whole suite; real-backend tests skip unless their service answers
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## test-fast: only the embedded backends
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -k "not postgres and not redis and not services"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check agentos tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy agentos

## bench: every benchmark under bench/ (needs PostgreSQL and Redis)
bench: $(VENV)/.installed-test
	for script in bench/*_bench.py; do $(BIN)/python $$script || exit 1; done

## openapi: export the OpenAPI document and the endpoint inventory to schemas/
openapi: $(VENV)/.installed
	$(BIN)/python -m agentos openapi > schemas/openapi.json
	$(BIN)/python -m agentos openapi --inventory > schemas/endpoints.txt

## schemas: regenerate schemas/config.schema.json from the settings model and
## export the packaged action meta-schema to schemas/action.schema.json
schemas: $(VENV)/.installed
	cp agentos/registry/action.schema.json schemas/action.schema.json
	$(BIN)/python -c 'import json; from agentos.config import settings_json_schema as s; \
	print(json.dumps(s(), indent=2))' > schemas/config.schema.json

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
