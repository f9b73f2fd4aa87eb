# Enclave — ops entry points. Every target but `install` uses the virtual environment in .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-data
PEOPLE ?= 2000
JOBS ?=

.PHONY: install host images lint test test-pure bench demo demo-stop provision deprovision clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## build the virtual environment in .venv

$(STAMP): pyproject.toml
	@bash scripts/prepare_host.sh python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,scale,models]'
	@# sacroml (the gate's model attacks) without its declared dependencies: the [models] extra pins their CPU builds
	$(BIN)/pip install --quiet --no-deps sacroml==2.0.1
	@# HealthDCAT-AP SHACL shapes for the catalogue test; --no-deps: its DataHub client is not needed
	$(BIN)/pip install --quiet --no-deps dh-healthdcat==0.2.0
	touch $(STAMP)

host:  ## install and start what the enclave needs on this host (Docker engine, proxy; PostgreSQL and Chromium for tests)
	@bash scripts/prepare_host.sh python docker postgres proxy images browser scanner

images: $(STAMP) host  ## build the notebook images offline: slim and stack (debootstrap base; IMAGES=slim, JULIA_TARBALL=..., BASE_IMAGE=...)
	@bash scripts/build_images.sh

lint: $(STAMP)  ## check the code with ruff (rules and line length in pyproject.toml)
	$(BIN)/ruff check .

test: $(STAMP) host lint  ## lint, then run the whole test suite (Docker and PostgreSQL included)
	$(BIN)/pytest tests

test-pure: $(STAMP)  ## the tests that need no Docker, PostgreSQL or browser (no `make host` needed; JOBS=2: in 2 processes)
	$(BIN)/pytest tests -m "not docker and not postgres and not browser" $(if $(JOBS),-n $(JOBS) --dist loadfile)

bench: $(STAMP) host  ## measure speed against baselines measured in the same run (writes .bench/*.json)
	$(BIN)/python -m tests.bench.pseudonymizer_bench
	$(BIN)/python -m tests.bench.enclave_bench
	$(BIN)/python -m tests.bench.seal_bench
	$(BIN)/python -m tests.bench.egress_bench
	$(BIN)/python -m tests.bench.model_bench
	$(BIN)/python -m tests.bench.scale_bench
	$(BIN)/python -m tests.bench.metering_bench
	$(BIN)/python -m tests.bench.swarm_bench
	$(BIN)/python -m tests.bench.import_bench

demo: $(STAMP) host  ## the whole system on embedded defaults (see README)
	@bash scripts/demo.sh "$(DEMO_DIR)" "$(PEOPLE)"

demo-stop:  ## stop the demo's hub (with its proxy and services) and the OIDC provider
	@bash scripts/demo_stop.sh "$(DEMO_DIR)"

provision: $(STAMP) host  ## provision PROJECT from projects/PROJECT.toml (= enclave provision PROJECT)
	@test -n "$(PROJECT)" || { echo "usage: make provision PROJECT=slug" >&2; exit 2; }
	$(BIN)/enclave provision "$(PROJECT)"

deprovision: $(STAMP)  ## stop PROJECT's servers, remove its network and extracts (REASON="...")
	@test -n "$(PROJECT)" || { echo "usage: make deprovision PROJECT=slug REASON='...'" >&2; exit 2; }
	$(BIN)/enclave deprovision "$(PROJECT)" --reason "$${REASON:-make deprovision}"

clean:  ## remove generated demo data and benchmark results
	rm -rf $(DEMO_DIR) .bench
