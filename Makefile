# vidaio-subnet — developer entry points. `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp

.PHONY: setup test lint demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh package.json
	@bash scripts/setup.sh
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/vidaio localnet

bench: setup
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) node_modules .pm2 .localnet
