# kaito developer entry points. Two commands do all set-up on a fresh clone:
#   make run    start the local control plane with simulated GPU nodes and run kaito on it
#   make test   run every test (unit, integration, e2e) against a real local control plane
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,runtime,models
PYTEST_ARGS ?=

.PHONY: help
help: ## list targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## install missing system tools (Go, Python venv support) where the machine lacks them
	@hack/ensure-tools.sh

$(VENV)/.installed: pyproject.toml | tools
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create .venv with kaito and its dev + runtime extras

.PHONY: testenv-build
testenv-build: tools ## build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok (cached)
	@hack/testenv/build.sh >/dev/null

.PHONY: check
check: venv ## ruff lint, ruff format check, mypy --strict on src/
	$(VENV)/bin/ruff check src tests hack
	$(VENV)/bin/ruff format --check src tests hack
	$(VENV)/bin/mypy --strict src/

.PHONY: fmt
fmt: venv ## format and auto-fix
	$(VENV)/bin/ruff format src tests hack
	$(VENV)/bin/ruff check --fix src tests hack

.PHONY: test
test: venv testenv-build ## run all tests against a real local control plane
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: unit
unit: venv ## only the fast tests that need no control plane
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: run
run: venv testenv-build ## start the local control plane + kaito and deploy the phi-3 sample Workspace
	@$(VENV)/bin/kaito testenv up
	@hack/run-local.sh

.PHONY: down
down: ## stop everything `make run` started
	@-hack/run-local.sh --down
	@-$(VENV)/bin/kaito testenv down

IMAGE_REGISTRY ?= mcr.microsoft.com/aks/kaito
IMAGE_TAG ?= 0.1.0
CONTAINER_ENGINE ?= $(shell command -v docker || command -v podman)

.PHONY: images
images: ## build the operator, inference and tuning images (needs docker or podman)
	@test -n "$(CONTAINER_ENGINE)" || { echo "make images: no docker or podman found" >&2; exit 1; }
	$(CONTAINER_ENGINE) build -f docker/operator.Dockerfile -t $(IMAGE_REGISTRY)/kaito-operator:$(IMAGE_TAG) .
	$(CONTAINER_ENGINE) build -f docker/inference.Dockerfile -t $(IMAGE_REGISTRY)/kaito-inference:$(IMAGE_TAG) .
	$(CONTAINER_ENGINE) build -f docker/tuning.Dockerfile -t $(IMAGE_REGISTRY)/kaito-tuning:$(IMAGE_TAG) .

.PHONY: clean
clean: ## remove the virtualenv and caches (not the Go-built binaries)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
