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

.PHONY: node-build
node-build: tools ## build kubelet, kube-proxy, containerd and pause, install runc/CNI/iptables/buildah (cached)
	@hack/node/build.sh >/dev/null

.PHONY: prometheus-build
prometheus-build: tools ## build Prometheus (Kubernetes discovery) from Go modules for the monitoring tests (cached)
	@hack/prometheus/build.sh >/dev/null

.PHONY: local-artifacts
local-artifacts: venv node-build ## real-node images in the local registry + the SmolLM2 weights (root only; cached)
	@if [ "$$(id -u)" != 0 ]; then echo "not root: no real nodes, skipping images and weights" >&2; exit 0; fi; \
	hack/images/build.sh && \
	$(PY) hack/models/smollm2.py --publish 10.245.0.1:5000/kaito --plain-http >/dev/null

.PHONY: check
check: venv ## ruff lint, ruff format check, mypy --strict on src/, the import contracts
	$(VENV)/bin/ruff check src tests hack
	$(VENV)/bin/ruff format --check src tests hack
	$(VENV)/bin/mypy --strict src/
	$(VENV)/bin/lint-imports

.PHONY: fmt
fmt: venv ## format and auto-fix
	$(VENV)/bin/ruff format src tests hack
	$(VENV)/bin/ruff check --fix src tests hack

.PHONY: test
test: venv testenv-build local-artifacts prometheus-build ## run all tests (unit, integration, e2e on real and kwok nodes)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: unit
unit: venv ## only the fast tests that need no control plane
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: run
run: venv testenv-build local-artifacts ## local control plane + kaito; phi-3 (kwok) and SmolLM2 (real node) Workspaces
	@$(VENV)/bin/kaito testenv up
	@hack/run-local.sh

.PHONY: install-local
install-local: venv testenv-build node-build ## kaito as pods in the local cluster (kubectl apply -k), replacing make run's processes
	@$(VENV)/bin/kaito testenv up
	@hack/install-local.sh

.PHONY: uninstall-local
uninstall-local: venv testenv-build ## remove what install-local made (Workspaces first, then NodeClaims, then kaito)
	@hack/install-local.sh --uninstall

.PHONY: down
down: ## stop everything `make run` and `make install-local` started
	@-hack/run-local.sh --down
	@-hack/install-local.sh --stop-node
	@-$(VENV)/bin/kaito testenv down
	@-$(VENV)/bin/kaito testenv registry down

IMAGE_REGISTRY ?= mcr.microsoft.com/aks/kaito
IMAGE_TAG ?= 0.1.0
# docker or podman; empty: the first of them whose daemon answers (`info`), a CLI alone is not
# enough. With none, hack/images/build.sh builds with buildah and pushes to 10.245.0.1:5000.
CONTAINER_ENGINE ?=
IMAGES_ARGS ?=

.PHONY: images
images: ## container images: docker/podman when one answers, else buildah -> local registry (hack/images/build.sh)
	@engine="$(CONTAINER_ENGINE)"; \
	if [ -z "$$engine" ]; then for e in docker podman; do \
	  if command -v $$e >/dev/null && $$e info >/dev/null 2>&1; then engine=$$e; break; fi; \
	done; fi; \
	if [ -z "$$engine" ]; then exec hack/images/build.sh $(IMAGES_ARGS); fi; \
	set -ex; for name in operator inference tuning puller; do \
	  $$engine build -f docker/$$name.Dockerfile -t $(IMAGE_REGISTRY)/kaito-$$name:$(IMAGE_TAG) .; \
	done

.PHONY: clean
clean: ## remove the virtualenv and caches (not the Go-built binaries)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
