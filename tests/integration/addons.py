"""Helpers for driving kube-addons against the real control plane in integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Optional

import yaml

REPO = Path(__file__).resolve().parents[2]
MODE = "addonmanager.kubernetes.io/mode"
DEPRECATED = "kubernetes.io/cluster-service"


def manager_kubectl(cluster) -> str:
    """The kubectl kube-addons drives: the built one unless the run picks another."""
    return os.environ.get("KUBE_ADDONS_TEST_KUBECTL") or cluster.kubectl


def configmap(
    name: str,
    namespace: str,
    mode: Optional[str] = "Reconcile",
    data: Optional[dict] = None,
    labels: Optional[dict] = None,
) -> dict:
    all_labels = dict(labels or {})
    if mode is not None:
        all_labels[MODE] = mode
    meta: dict = {"name": name, "namespace": namespace}
    if all_labels:
        meta["labels"] = all_labels
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": data if data is not None else {"key": "value"},
    }


def dump(*objs: dict) -> str:
    return "---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in objs)


class AddonDir:
    """A throwaway ADDON_PATH."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, *objs: dict, text: Optional[str] = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if text is not None else dump(*objs))
        return path

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()


def cli_env(cluster, addon_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "KUBECTL_BIN": manager_kubectl(cluster),
        "KUBECTL_OPTS": f"--kubeconfig={cluster.kubeconfig}",
        "ADDON_PATH": str(addon_path),
        "ADDON_MANAGER_LEADER_ELECTION": "false",
        "KUBE_ADDONS_ADMISSION_DIR": str(addon_path) + ".no-admission",
        "TEST_ADDON_CHECK_INTERVAL_SEC": "60",
    }
    env.pop("KUBECONFIG", None)
    env.update(extra)
    return env


def run_cli(
    cluster, addon_path: Path, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess:
    """Run `kube-addons ARGS` as a process; stderr merged into stdout like the pod's log."""
    return subprocess.run(
        [sys.executable, "-m", "kube_addons", *args],
        env=cli_env(cluster, addon_path, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def get(kubectl, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict]:
    args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(*args).stdout
    return json.loads(out) if out.strip() else None


def wait_gone(
    kubectl, kind: str, name: str, namespace: Optional[str] = None, timeout: float = 60
) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get(kubectl, kind, name, namespace) is None:
            return True
        time.sleep(0.5)
    return False


# Fixtures (imported into conftest.py).
import pytest  # noqa: E402


@pytest.fixture
def addons(tmp_path, kubectl):
    """A throwaway ADDON_PATH; its guard state ConfigMap is removed afterwards."""
    from kube_addons.state import configmap_name

    directory = AddonDir(tmp_path / "addons")
    yield directory
    kubectl("delete", "configmap", "-n", "kube-system", configmap_name(str(directory.root)),
            "--ignore-not-found", check=False)


@pytest.fixture
def once(cluster, addons):
    """`once(**env)`: run `kube-addons once` on the test's ADDON_PATH."""

    def run(**env: str) -> subprocess.CompletedProcess:
        return run_cli(cluster, addons.root, "once", **env)

    return run
