"""The v8.6 profile on the real control plane (a v1.37 server: tokenless ServiceAccounts,
no leader Endpoints unless a test makes one)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.addons import cli_env, configmap, dump, get, run_cli, wait_gone

V86 = {"KUBE_ADDONS_PROFILE": "v8.6"}
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


def lines_without_ts(text: str) -> list[str]:
    return [line.split(" at ")[0] for line in text.splitlines()]


@pytest.fixture
def no_namespace_file(tmp_path) -> dict[str, str]:
    """Point the namespace bootstrap at a file that is not there (it retries quietly in the
    background, as upstream did outside its image, #64962)."""
    return {"KUBE_ADDONS_NAMESPACE_FILE": str(tmp_path / "no-namespace.yaml")}


@pytest.fixture
def leader_endpoints(kubectl):
    """`make(identity)`: the Endpoints object kube-controller-manager wrote before 1.20,
    with its leader record; removed afterwards."""

    def make(identity: str) -> None:
        record = {
            "holderIdentity": identity,
            "leaseDurationSeconds": 15,
            "acquireTime": "2018-02-20T10:00:00Z",
            "renewTime": "2018-02-20T10:00:00Z",
            "leaderTransitions": 0,
        }
        obj = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": "kube-controller-manager",
                "namespace": "kube-system",
                "annotations": {LEADER_ANNOTATION: json.dumps(record, separators=(",", ":"))},
            },
        }
        kubectl("create", "-f", "-", input=json.dumps(obj))

    yield make
    kubectl("delete", "endpoints", "-n", "kube-system", "kube-controller-manager",
            "--ignore-not-found", check=False)


@pytest.mark.parametrize("holder_host,hostname,acts", [
    ("{cluster}", "{cluster}", True),
    # The kubeconfig is given only in KUBECTL_OPTS: upstream v8.6 left them off this query,
    # found no leader and acted here too (#80575).
    ("{cluster}", "not-this-host", False),
    # Upstream cut the identity at its first underscore and never matched (#88214).
    ("node_with_underscores", "node_with_underscores", True),
], ids=["this-host", "other-host", "underscores"])
def test_leader_from_endpoints_annotation(cluster, namespace, kubectl, addons, leader_endpoints,
                                          no_namespace_file, holder_host, hostname, acts):
    holder_host = holder_host.format(cluster=cluster.hostname)
    hostname = hostname.format(cluster=cluster.hostname)
    leader_endpoints(f"{holder_host}_{uuid.uuid4()}")
    addons.write("a.yaml", configmap("a", namespace))
    out = run_cli(cluster, addons.root, "run", ADDON_MANAGER_LEADER_ELECTION="true",
                  HOSTNAME=hostname, **V86, **no_namespace_file)
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert f"INFO: Leader is {holder_host}" in lines, out.stdout
    assert ("INFO: Not elected leader, going back to sleep." not in lines) is acts
    assert (get(kubectl, "configmap", "a", namespace) is not None) is acts


def test_no_leader_endpoints_means_acting(cluster, namespace, kubectl, addons,
                                          no_namespace_file):
    # This controller manager elects through its Lease; the Endpoints lookup fails, the
    # holder is unknown and, as in v8.6, every replica acts.
    addons.write("a.yaml", configmap("a", namespace))
    out = run_cli(cluster, addons.root, "run", ADDON_MANAGER_LEADER_ELECTION="true",
                  HOSTNAME="not-this-host", **V86, **no_namespace_file)
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert 'Error from server (NotFound): endpoints "kube-controller-manager" not found' in lines
    assert "INFO: Leader is " in lines
    assert get(kubectl, "configmap", "a", namespace) is not None


def wait_for(check, what: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; log:\n{log.read_text()}")


@pytest.fixture
def bootstrap_objects(kubectl, namespace):
    """Names of the Namespace and LimitRange the startup creates; removed afterwards."""
    names = {"namespace": f"{namespace}-boot", "limitrange": f"{namespace}-limits"}
    yield names
    kubectl("delete", "namespace", names["namespace"], "--wait=false", "--ignore-not-found",
            check=False)
    kubectl("delete", "limitrange", "-n", "default", names["limitrange"], "--ignore-not-found",
            check=False)


def test_daemon_startup_bootstrap_and_loop(cluster, namespace, kubectl, addons, tmp_path,
                                           bootstrap_objects):
    ns_file = tmp_path / "namespace.yaml"
    ns_file.write_text(dump({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": bootstrap_objects["namespace"]}}))
    admission = tmp_path / "admission-controls"
    admission.mkdir()
    # No mode label: v8.6 applies admission controls whatever their labels say.
    (admission / "limit-range.yaml").write_text(dump({
        "apiVersion": "v1", "kind": "LimitRange",
        "metadata": {"name": bootstrap_objects["limitrange"]},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "100m"}}]},
    }))
    addons.write("a.yaml", configmap("a", namespace))
    log = tmp_path / "kube-addon-manager.log"
    env = cli_env(cluster, addons.root, **V86, KUBE_ADDONS_NAMESPACE_FILE=str(ns_file),
                  KUBE_ADDONS_ADMISSION_DIR=str(admission), TEST_ADDON_CHECK_INTERVAL_SEC="2")
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kube_addons", "run", "--loop"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: log.read_text().count("reconcile completed") >= 2
                 and "in namespace default at" in log.read_text(), "two passes", proc, log)
        assert get(kubectl, "namespace", bootstrap_objects["namespace"]) is not None
        assert get(kubectl, "limitrange", bootstrap_objects["limitrange"], "default") is not None
        assert get(kubectl, "configmap", "a", namespace) is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    lines = lines_without_ts(text)
    assert not any("prune" in line and line.startswith("INFO:") for line in lines)
    assert text.splitlines()[0].endswith(" with ADDON_CHECK_INTERVAL_SEC=2 ==")
    expected_in_order = [
        "INFO: == Kubernetes addon manager started",
        f"namespace/{bootstrap_objects['namespace']} created",
        f"INFO: == Successfully started {ns_file} in namespace ",
        # deliberate fix (#108313): the token never comes on this server
        "INFO: == Default service account in the kube-system namespace exists; this server "
        "creates no token secrets (Kubernetes >= 1.24), going on ==",
        f"INFO: ++ obj {admission / 'limit-range.yaml'} is created ++",
        "INFO: == Entering periodical apply loop",
        "INFO: Leader election disabled.",
        "INFO: == Kubernetes addon ensure completed",
        "INFO: == Reconciling with deprecated label ==",
        "error: no objects passed to apply",
        "INFO: == Reconciling with addon-manager label ==",
        "configmap/a created",
        "INFO: == Kubernetes addon reconcile completed",
    ]
    positions = [lines.index(line) for line in expected_in_order]
    assert positions == sorted(positions), text
    assert f"limitrange/{bootstrap_objects['limitrange']} created" in lines
    assert f"INFO: == Successfully started {admission / 'limit-range.yaml'} in namespace " \
        "default" in lines
    # the v8.6 success line has no closing "=="
    assert not any(line.startswith("INFO: == Successfully started") and line.endswith("==")
                   for line in text.splitlines())
    # in steady state nothing but the unchanged line is printed for the addon
    assert lines.count("configmap/a unchanged") >= 1


def test_once_prunes_with_kubectls_own_list_and_keeps_ensure_exists(cluster, namespace, kubectl,
                                                                    addons, once):
    addons.write("a.yaml", configmap("a", namespace))
    addons.write("b.yaml", configmap("b", namespace))
    addons.write("c.yaml", configmap("c", namespace, mode="EnsureExists"))
    out = once(**V86)
    assert out.returncode == 0, out.stdout
    addons.remove("b.yaml")
    addons.remove("c.yaml")
    kubectl("patch", "configmap", "a", "-n", namespace, "-p", '{"data":{"key":"edited"}}')
    out = once(**V86)
    assert out.returncode == 0, out.stdout
    assert "configmap/b pruned" in out.stdout.splitlines()
    assert wait_gone(kubectl, "configmap", "b", namespace)
    assert get(kubectl, "configmap", "a", namespace)["data"] == {"key": "value"}
    assert get(kubectl, "configmap", "c", namespace) is not None
    assert out.stdout.splitlines()[-1] == (
        "once: created 0, configured 1, unchanged 0, pruned 1, errors 0")
