"""`kube-addons once` exit codes against the real server."""

from __future__ import annotations

from tests.integration.addons import configmap, run_cli


def test_exit_0_when_everything_applies(cluster, namespace, addons):
    addons.write("a.yaml", configmap("a", namespace), configmap("e", namespace, "EnsureExists"))
    first = run_cli(cluster, addons.root, "once")
    assert first.returncode == 0, first.stdout
    assert first.stdout.splitlines()[-1] == (
        "once: created 2, configured 0, unchanged 0, pruned 0, errors 0"
    )
    again = run_cli(cluster, addons.root, "once")  # AlreadyExists is not a failure
    assert again.returncode == 0, again.stdout


def test_exit_1_when_the_server_rejects_an_object(cluster, namespace, addons):
    addons.write("good.yaml", configmap("good", namespace))
    addons.write("bad.yaml", configmap("Not_A_Valid_Name", namespace))
    out = run_cli(cluster, addons.root, "once")
    assert out.returncode == 1, out.stdout
    assert "Not_A_Valid_Name" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("once: created 1,")
    assert not out.stdout.splitlines()[-1].endswith("errors 0")


def test_exit_2_on_bad_config(cluster, namespace, addons):
    out = run_cli(cluster, addons.root, "once", TEST_ADDON_CHECK_INTERVAL_SEC="soon")
    assert out.returncode == 2
    assert "TEST_ADDON_CHECK_INTERVAL_SEC" in out.stdout


def test_kubectl_cache_goes_to_a_writable_folder_without_a_home(cluster, namespace, addons):
    """A static pod's HOME may be missing or read-only: kubectl then gets KUBECACHEDIR in a
    temporary folder instead of refetching discovery on every call."""
    import shutil
    import tempfile
    from pathlib import Path

    cache = Path(tempfile.gettempdir()) / "kube-addons-kubectl-cache"
    shutil.rmtree(cache, ignore_errors=True)
    addons.write("a.yaml", configmap("a", namespace))
    out = run_cli(cluster, addons.root, "once", HOME="/nonexistent/home")
    assert out.returncode == 0, out.stdout
    assert any(cache.rglob("*.json")), "kubectl wrote no discovery cache there"
