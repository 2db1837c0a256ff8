"""The drop-in, end to end: the upstream pods' exact commands in a Debian root laid out
like image/Dockerfile, through chroot, against the local control plane.

The environment is the upstream GCE manifest's (KUBECTL_OPTS with the addon manager's
kubeconfig, the two prune-list variables, templated empty) plus what the container
runtime gives (PATH, HOSTNAME of the host-network node, HOME); the one change is a 3 s
interval instead of 60 s, so the test sees several passes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.integration.addons import MODE, configmap, dump, get
from tests.rootfs import rootfs

V86_COMMAND = "exec /opt/kube-addons.sh 1>>/var/log/kube-addon-manager.log 2>&1"
V91_COMMAND = "exec /opt/kube-addons-main.sh 1>>/var/log/kube-addon-manager.log 2>&1"
KUBECONFIG = "/etc/srv/kubernetes/addon-manager/kubeconfig"
LOG = "var/log/kube-addon-manager.log"
INTERVAL = "3"


@dataclass
class Root:
    path: Path

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def addons(self) -> Path:
        return self.path / "etc/kubernetes/addons"

    @property
    def admission(self) -> Path:
        return self.path / "etc/kubernetes/admission-controls"


@pytest.fixture(scope="session")
def image_root(cluster) -> Iterator[Root]:
    with rootfs.locked(rootfs.cache_root()):
        path = rootfs.base_root()
        rootfs.install(path, rootfs.find_wheel(), Path(cluster.kubectl))
        with rootfs.proc_mounted(path):
            yield Root(path)


@pytest.fixture
def pod(image_root: Root, cluster, tmp_path) -> Iterator[Root]:
    """Fresh /etc/kubernetes and log; the addon manager's kubeconfig, self-contained."""
    root = image_root
    shutil.rmtree(root.path / "etc/kubernetes", ignore_errors=True)
    root.addons.mkdir(parents=True)
    root.admission.mkdir(parents=True)
    root.log.unlink(missing_ok=True)
    flat = subprocess.run(
        [cluster.kubectl, f"--kubeconfig={cluster.kubeconfig}", "config", "view", "--flatten",
         "--minify", "-o", "json"], capture_output=True, text=True, check=True).stdout
    kubeconfig = root.path / KUBECONFIG.lstrip("/")
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_text(flat)
    kubeconfig.chmod(0o600)
    yield root


def pod_env(cluster) -> dict[str, str]:
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": cluster.hostname,
        "HOME": "/root",
        "KUBECTL_OPTS": f"--kubeconfig={KUBECONFIG}",
        "KUBECTL_PRUNE_WHITELIST_OVERRIDE": "",
        "KUBECTL_EXTRA_PRUNE_WHITELIST": "",
        "TEST_ADDON_CHECK_INTERVAL_SEC": INTERVAL,
    }


def start(root: Root, cluster, command: str) -> subprocess.Popen:
    rootfs.say(f"chroot {root.path} /bin/bash -c {json.dumps(command)}")
    return subprocess.Popen(["chroot", str(root.path), "/bin/bash", "-c", command],
                            env=pod_env(cluster), stdin=subprocess.DEVNULL)


def wait_until(check, what: str, proc: subprocess.Popen, root: Root, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    text = root.log.read_text() if root.log.exists() else "(no log)"
    raise AssertionError(f"timed out waiting for {what}; log:\n{text}")


def stop(proc: subprocess.Popen) -> tuple[int, float]:
    """SIGTERM as the kubelet sends it; the exit code and how long it took."""
    start_time = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return code, time.monotonic() - start_time


def log_lines(root: Root) -> list[str]:
    text = root.log.read_text() if root.log.exists() else ""
    return [line.split(" at ")[0] for line in text.splitlines()]


def assert_in_order(lines: list[str], expected: list[str], text: str) -> None:
    positions = []
    for line in expected:
        assert line in lines, f"missing {line!r} in log:\n{text}"
        positions.append(lines.index(line))
    assert positions == sorted(positions), f"out of order:\n{text}"


def files_changed_since(root: Path, moment: float, skip: tuple[str, ...]) -> list[str]:
    """Files under root modified after moment, but for paths starting with one in skip."""
    changed = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames
                       if os.path.normpath(os.path.join(rel_dir, d)) not in ("proc", "sys", "dev")]
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            path = os.path.join(dirpath, name)
            if (not rel.startswith(skip) and not os.path.islink(path)
                    and os.path.getmtime(path) > moment):
                changed.append(rel)
    return changed


@pytest.fixture
def limit_range_name(kubectl, namespace) -> Iterator[str]:
    name = f"{namespace}-limits"
    yield name
    kubectl("delete", "limitrange", "-n", "default", name, "--ignore-not-found", check=False)


def test_v86_pod_command(pod, cluster, kubectl, namespace, limit_range_name):
    (pod.addons / "keep.yaml").write_text(dump(configmap("keep", namespace)))
    (pod.addons / "sub").mkdir()
    (pod.addons / "sub" / "gone.yaml").write_text(dump(configmap("gone", namespace)))
    (pod.addons / "ens.yaml").write_text(dump(configmap("ens", namespace, mode="EnsureExists")))
    # No mode label: the v8.6 profile applies admission controls whatever their labels.
    (pod.admission / "limit-range.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": limit_range_name},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"}}]},
    }))
    started = time.time()
    time.sleep(0.05)  # mtimes after this moment are the run's own writes
    proc = start(pod, cluster, V86_COMMAND)
    try:
        wait_until(lambda: get(kubectl, "configmap", "gone", namespace) is not None
                   and get(kubectl, "limitrange", limit_range_name, "default") is not None,
                   "the first pass and the admission controls", proc, pod)
        rootfs.say("first pass done: edit a Reconcile object, remove a file, edit EnsureExists")
        kubectl("patch", "configmap", "keep", "-n", namespace, "-p", '{"data":{"key":"x"}}')
        kubectl("patch", "configmap", "ens", "-n", namespace, "-p", '{"data":{"key":"x"}}')
        (pod.addons / "sub" / "gone.yaml").unlink()
        wait_until(lambda: get(kubectl, "configmap", "gone", namespace) is None
                   and get(kubectl, "configmap", "keep", namespace)["data"] == {"key": "value"},
                   "revert and prune", proc, pod)
        code, took = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rootfs.say(f"SIGTERM: exit {code} after {took:.1f} s")
    assert code == 0 and took < 5
    assert get(kubectl, "configmap", "ens", namespace)["data"] == {"key": "x"}
    # /opt/namespace.yaml was applied as v8.6 did (#75567 is kept in this profile):
    # kube-system now carries kubectl's last-applied annotation.
    annotations = get(kubectl, "namespace", "kube-system")["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in annotations

    text = pod.log.read_text()
    lines = log_lines(pod)
    assert text.splitlines()[0].startswith("INFO: == Kubernetes addon manager started at ")
    assert text.splitlines()[0].endswith(f" with ADDON_CHECK_INTERVAL_SEC={INTERVAL} ==")
    assert_in_order(lines, [
        "INFO: == Kubernetes addon manager started",
        "INFO: == Successfully started /opt/namespace.yaml in namespace ",
        "INFO: == Default service account in the kube-system namespace exists; this server "
        "creates no token secrets (Kubernetes >= 1.24), going on ==",
        "INFO: ++ obj /etc/kubernetes/admission-controls/limit-range.yaml is created ++",
        "INFO: == Entering periodical apply loop",
        'Error from server (NotFound): endpoints "kube-controller-manager" not found',
        "INFO: Leader is ",
        "configmap/ens created",
        "INFO: == Kubernetes addon ensure completed",
        "INFO: == Reconciling with deprecated label ==",
        "error: no objects passed to apply",
        "INFO: == Reconciling with addon-manager label ==",
        "configmap/keep created",
        "INFO: == Kubernetes addon reconcile completed",
        "configmap/gone pruned",
    ], text)
    assert f"limitrange/{limit_range_name} created" in lines
    assert ("INFO: == Successfully started /etc/kubernetes/admission-controls/limit-range.yaml "
            "in namespace default") in lines
    assert not any("prune allowlist flags" in line for line in lines)
    assert not any("Traceback" in line for line in lines)
    # Timestamps as the bookworm image's `date -Is` prints them.
    assert text.splitlines()[0].split(" at ")[1].split(" with ")[0].endswith("+00:00")
    # Parity case 2: the program writes no files of its own. The log is the shell's
    # redirection; kubectl keeps its discovery cache under $HOME/.kube, as it did upstream.
    assert files_changed_since(pod.path, started, (LOG, "root/.kube/")) == []


def test_v91_pod_command(pod, cluster, kubectl, namespace):
    (pod.addons / "a.yaml").write_text(dump(configmap("a", namespace)))
    proc = start(pod, cluster, V91_COMMAND)
    try:
        wait_until(lambda: "INFO: == Kubernetes addon reconcile completed" in log_lines(pod),
                   "one pass", proc, pod)
        code, _took = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
    text = pod.log.read_text()
    lines = log_lines(pod)
    assert text.splitlines()[0].startswith(
        "INFO: == Generated kubectl prune allowlist flags: --prune-allowlist core/v1/ConfigMap ")
    assert_in_order(lines, [
        "INFO: == Kubernetes addon manager started",
        "INFO: == Default service account in the kube-system namespace ==",
        "INFO: == Entering periodical apply loop",
        "configmap/a created",
        "INFO: == Kubernetes addon reconcile completed",
    ], text)
    assert any(line.startswith(f"INFO: Leader is {cluster.hostname}_") for line in lines), text
    assert get(kubectl, "configmap", "a", namespace)["metadata"]["labels"][MODE] == "Reconcile"

