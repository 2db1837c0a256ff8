"""The local control plane itself: versions, controllers, restart/freeze, process hygiene."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kube_addons.devcluster import DEFAULT_VERSION, Cluster
from kube_addons.devcluster.testing import KubectlFn

REPO = Path(__file__).resolve().parents[2]
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")


def _wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def test_server_and_kubectl_report_pinned_version(cluster: Cluster, kubectl: KubectlFn) -> None:
    assert json.loads(cluster.api_get("/version"))["gitVersion"] == DEFAULT_VERSION
    versions = json.loads(kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == DEFAULT_VERSION
    assert versions["serverVersion"]["gitVersion"] == DEFAULT_VERSION


def test_kubeconfig_defaults_to_namespace_default(cluster: Cluster, kubectl: KubectlFn) -> None:
    ns = kubectl("config", "view", "--minify", "-o", "jsonpath={..namespace}").stdout
    assert ns == "default"
    assert cluster.env()["KUBECONFIG"] == cluster.kubeconfig
    assert cluster.server.startswith("https://127.0.0.1:")


def test_configmap_apply_get_delete(namespace: str, kubectl: KubectlFn) -> None:
    manifest = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "probe", "namespace": namespace},
            "data": {"key": "value"},
        }
    )
    kubectl("apply", "-f", "-", input=manifest)
    got = json.loads(kubectl("get", "configmap", "probe", "-n", namespace, "-o", "json").stdout)
    assert got["data"] == {"key": "value"}
    kubectl("delete", "configmap", "probe", "-n", namespace)
    res = kubectl("get", "configmap", "probe", "-n", namespace, check=False)
    assert res.returncode != 0 and "NotFound" in res.stderr


def test_controller_manager_holds_its_lease(cluster: Cluster, kubectl: KubectlFn) -> None:
    holder = kubectl(
        "get",
        "lease",
        "kube-controller-manager",
        "-n",
        "kube-system",
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ).stdout
    assert holder.startswith(f"{cluster.hostname}_"), holder


def test_default_service_account_exists(kubectl: KubectlFn) -> None:
    res = kubectl("get", "serviceaccount", "default", "-n", "kube-system", "-o", "name")
    assert res.stdout.strip() == "serviceaccount/default"


def test_deleted_namespace_disappears(kubectl: KubectlFn) -> None:
    """The KCM's namespace controller finalizes deleted namespaces (content included)."""
    from kube_addons.devcluster.testing import namespace_name

    name = namespace_name("nsdelete")
    kubectl("create", "namespace", name)
    kubectl("create", "configmap", "content", "-n", name, "--from-literal=a=b")
    kubectl("delete", "namespace", name, "--wait=false")

    def gone() -> bool:
        res = kubectl("get", "namespace", name, check=False)
        return res.returncode != 0 and "NotFound" in res.stderr

    assert _wait_until(gone, timeout=60), f"namespace {name} still exists after 60 s"


def test_apiserver_metrics_count_requests(cluster: Cluster, kubectl: KubectlFn) -> None:
    kubectl("get", "namespaces")
    assert "apiserver_request_total{" in cluster.apiserver_metrics()


def test_components_run_in_their_own_process_groups(cluster: Cluster) -> None:
    pids = cluster.pids()
    assert set(pids) == set(COMPONENTS)
    for pid in pids.values():
        assert os.getpgid(pid) == pid  # signals to a component's group reach only it


# -- disruptive tests: each restores the apiserver before returning -------------------------


def test_apiserver_restart_keeps_data(cluster: Cluster, namespace: str, kubectl: KubectlFn) -> None:
    kubectl("create", "configmap", "survivor", "-n", namespace, "--from-literal=k=v")
    cluster.stop_apiserver()
    try:
        down = kubectl("get", "namespaces", "--request-timeout=5s", check=False, timeout=30)
        assert down.returncode != 0
    finally:
        cluster.start_apiserver()
    got = kubectl("get", "configmap", "survivor", "-n", namespace, "-o", "jsonpath={.data.k}")
    assert got.stdout == "v"


def test_frozen_apiserver_times_out_then_recovers(cluster: Cluster, kubectl: KubectlFn) -> None:
    cluster.freeze_apiserver()
    try:
        started = time.monotonic()
        frozen = kubectl("get", "namespaces", "--request-timeout=2s", check=False, timeout=30)
        assert frozen.returncode != 0
        assert time.monotonic() - started < 25
    finally:
        cluster.thaw_apiserver()
    assert (
        kubectl("get", "namespace", "default", "-o", "name").stdout.strip() == "namespace/default"
    )


# -- process hygiene: separate clusters in child processes ----------------------------------


@pytest.mark.slow
def test_components_die_with_a_killed_parent(cluster_bin_dir: Path, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: SIGKILL of the owning Python process takes the components along."""
    script = (
        "import json, sys, time\n"
        "from kube_addons.devcluster import Cluster\n"
        "c = Cluster(bin_dir=sys.argv[1], workdir=sys.argv[2], quiet=True).start()\n"
        "print(json.dumps(c.pids()), flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(cluster_bin_dir), str(tmp_path / "cp")],
        stdout=subprocess.PIPE,
        text=True,
        env=_python_env(),
    )
    try:
        assert proc.stdout is not None
        pids = json.loads(proc.stdout.readline() or "{}")
        assert set(pids) == set(COMPONENTS)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert _wait_until(lambda: not any(_alive(p) for p in pids.values()), timeout=10), pids


@pytest.mark.slow
def test_run_passes_exit_code_and_cleans_up_on_sigint(tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "kube_addons.devcluster", "run", "--"]
    check = '"$KUBECTL_BIN" get namespace default -o name >/dev/null && exit 7'
    res = subprocess.run(
        [*cli, "sh", "-c", check],
        env=_python_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert res.returncode == 7, res.stderr

    marker = tmp_path / "started"
    waiter = f'echo "$KUBECONFIG" > {shlex.quote(str(marker))}; exec sleep 100'
    proc = subprocess.Popen(
        [*cli, "sh", "-c", waiter],
        env=_python_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_until(marker.exists, timeout=120), "run did not start CMD"
        workdir = Path(marker.read_text().strip()).parent
        proc.send_signal(signal.SIGINT)  # only to 'run': it must pass it on and clean up
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert not workdir.exists()  # the temp work dir (etcd data, logs) is removed
    assert _processes_mentioning(str(workdir)) == []


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
