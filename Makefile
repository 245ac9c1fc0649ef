# tillit: two commands. `make run` serves the system with demo data; `make test` runs every test.
# Both set up what they need on a fresh clone (a machine with Python 3.11 and make).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO_PEOPLE ?= 500

.PHONY: run test check install format demo clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Set up, load demo data and serve http://$(HOST):$(PORT) on the embedded SQLite database.
run: install
	$(BIN)/tillit migrate --noinput
	$(BIN)/tillit notice publish
	$(BIN)/tillit demo --if-empty --people $(DEMO_PEOPLE)
	$(BIN)/tillit welcome --url http://$(HOST):$(PORT)
	$(BIN)/tillit runserver $(HOST):$(PORT)

## Run the whole suite on SQLite and, when reachable (always under CI=true), on PostgreSQL.
test: install
	@bash scripts/ensure-chromium
	@bash scripts/run-tests $(ARGS)

## Lint, format check, types, layer contracts, migrations up to date.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy tillit config
	$(BIN)/lint-imports
	$(BIN)/tillit makemigrations --check --dry-run

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var build *.egg-info
