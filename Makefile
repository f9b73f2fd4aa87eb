# Enclave — ops entry points. Every target but `install` uses the virtual environment in .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-data
PEOPLE ?= 2000

.PHONY: install test bench demo clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## build the virtual environment in .venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)  ## run the whole test suite
	$(BIN)/pytest tests

bench: $(STAMP)  ## measure speed against baselines (writes .bench/*.json)
	$(BIN)/python -m tests.bench.pseudonymizer_bench

demo: $(STAMP)  ## synthetic sources -> pseudonymised extract of a demo project
	@bash scripts/demo.sh "$(DEMO_DIR)" "$(PEOPLE)"

clean:  ## remove generated demo data and benchmark results
	rm -rf $(DEMO_DIR) .bench
