# deskbridge — `make help` lists the targets. Two commands set everything up on a fresh machine:
#   make run    install, migrate SQLite, start Zendesk + Freshdesk emulators, link, sync, serve on :8000
#   make test   install, run the whole suite (SQLite and a throwaway PostgreSQL 15)
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) ## Create .venv and install deskbridge with its dev tools
	@# pip compiles what it installs, but not an editable install's sources: without this, a machine
	@# with PYTHONDONTWRITEBYTECODE set compiles ~85 modules again at every command's start (~50 ms).
	@$(PY) -m compileall -q app connectors schemas emulators

run: install ## Sandbox demo: emulators linked and synced, served on :8000 (prints key, tokens, examples)
	$(VENV)/bin/deskbridge demo

serve: install ## Serve deskbridge on the embedded SQLite store (var/), printing a local API key
	@mkdir -p var
	@[ -s var/api-key ] || $(VENV)/bin/deskbridge api-key create --name local > var/api-key
	@echo "API key: $$(cat var/api-key)   (stored in var/api-key)"
	@echo "API: http://127.0.0.1:8000/api/ticketing/v1   OpenAPI: http://127.0.0.1:8000/schema"
	DESKBRIDGE_API_KEY=$$(cat var/api-key) $(VENV)/bin/deskbridge serve

test: install ## Run the whole test suite (SQLite and a throwaway PostgreSQL)
	$(PY) -m pytest -q

lint: install ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install ## mypy --strict on schemas, connectors, app
	$(VENV)/bin/mypy

check: lint typecheck test ## Lint, types and tests

bench-read: install ## Read-path benchmark: 100k tickets on SQLite vs an in-memory floor
	$(PY) benchmarks/read_path.py

bench-sync: install ## Sync-path benchmark: 100k Zendesk tickets into SQLite vs plain httpx paging
	$(PY) benchmarks/sync_path.py

clean: ## Remove the virtualenv, caches and local data
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var *.egg-info

.PHONY: help install run serve test lint typecheck check bench-read bench-sync clean
