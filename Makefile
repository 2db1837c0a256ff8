# kube-addons — developer entry points. Run `make help` for the list.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
RUN_INTERVAL ?= 10

.PHONY: help venv controlplane test test-unit test-integration lint run clean

help:
	@echo "make run               build/start the local control plane and run kube-addons on examples/"
	@echo "make test              unit + integration tests against a real local control plane"
	@echo "make test-unit         unit tests only (no cluster)"
	@echo "make test-integration  integration tests only"
	@echo "make controlplane      build (or reuse) the control-plane binaries"
	@echo "make lint              ruff"

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@echo "[make] creating $(VENV) and installing kube-addons with its test extra"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

controlplane: venv
	$(PY) -m kube_addons.devcluster build

test: venv controlplane
	$(PY) -m pytest tests/unit tests/integration $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv controlplane
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check kube_addons tests

# Starts etcd, kube-apiserver and kube-controller-manager on 127.0.0.1, then runs the
# daemon against examples/ until Ctrl-C, which stops everything.
run: venv controlplane
	ADDON_PATH=$(CURDIR)/examples/addons \
	KUBE_ADDONS_ADMISSION_DIR=$(CURDIR)/examples/admission-controls \
	TEST_ADDON_CHECK_INTERVAL_SEC=$(RUN_INTERVAL) \
	$(PY) -m kube_addons.devcluster run -- $(VENV)/bin/kube-addons run --loop

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
