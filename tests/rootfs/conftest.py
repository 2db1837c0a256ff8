"""The drop-in image test: run only by `make image-test` (it needs root, debootstrap and
about a minute more on the first run), never by a plain pytest run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The control plane and the namespace fixture, shared with the integration tests.
from tests.integration.conftest import cluster, cluster_bin_dir, kubectl, namespace  # noqa: F401

ENABLE_ENV = "KUBE_ADDONS_IMAGE_TEST"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.slow)
        if os.environ.get(ENABLE_ENV) != "1":
            item.add_marker(pytest.mark.skip(reason=f"run by `make image-test` ({ENABLE_ENV}=1)"))
        elif os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="needs root for debootstrap and chroot"))
