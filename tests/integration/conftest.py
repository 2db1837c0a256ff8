"""Integration fixtures: one real control plane per test session.

Every test under tests/integration/ is marked ``integration``. The binaries are built (or
found in the machine-wide cache) right after collection, outside any test's timeout: a
cold build takes minutes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kube_addons.devcluster import Cluster, ensure_binaries
from kube_addons.devcluster.testing import KubectlFn, make_kubectl, namespace_name
from tests.integration.addons import addons, once  # noqa: F401  (fixtures)

HERE = Path(__file__).resolve().parent
_build: dict[str, object] = {}


def _is_integration(item: pytest.Item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not any(_is_integration(i) for i in session.items):
        return
    try:
        _build["bin_dir"] = ensure_binaries()
    except Exception as exc:  # noqa: BLE001 reported by the fixture, as a test error, not a crash
        _build["error"] = exc


@pytest.fixture(scope="session")
def cluster_bin_dir() -> Path:
    if "error" in _build:
        pytest.fail(f"cannot build the control plane: {_build['error']}", pytrace=False)
    if "bin_dir" not in _build:
        _build["bin_dir"] = ensure_binaries()
    return _build["bin_dir"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def cluster(cluster_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(bin_dir=cluster_bin_dir, workdir=tmp_path_factory.mktemp("controlplane"))
    with c:
        yield c


@pytest.fixture(scope="session")
def kubectl(cluster: Cluster) -> KubectlFn:
    """``kubectl(*args, input=None, check=True) -> CompletedProcess`` against the cluster."""
    return make_kubectl(cluster.kubectl, cluster.kubeconfig)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl: KubectlFn) -> Iterator[str]:
    name = namespace_name(request.node.name)
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        try:
            kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", timeout=30)
        except (subprocess.SubprocessError, OSError) as exc:
            # A test that broke the apiserver must not hide its own failure behind this.
            print(f"warning: could not delete namespace {name}: {exc}")

