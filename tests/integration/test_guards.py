"""Fault suite for the guards: no managed object lost, no unmanaged object touched.

Each scenario keeps another Reconcile object in the same namespace (that is what makes
kubectl visit the namespace for pruning). Three of them also run with the guards off to
show what upstream's behaviour does in the same situation.
"""
from __future__ import annotations

import os

import pytest

from tests.integration.addons import configmap, get, wait_gone

OFF = {"KUBE_ADDONS_GUARDS": "off"}


@pytest.fixture
def bystander(namespace, kubectl):
    """An unmanaged object; its resourceVersion must never change."""
    kubectl("create", "configmap", "bystander", "-n", namespace, "--from-literal=k=v")
    before = get(kubectl, "configmap", "bystander", namespace)["metadata"]["resourceVersion"]
    yield
    after = get(kubectl, "configmap", "bystander", namespace)
    assert after is not None and after["metadata"]["resourceVersion"] == before


def converge(addons, once, namespace, *names):
    for name in names:
        addons.write(f"{name}.yaml", configmap(name, namespace))
    addons.write("keep.yaml", configmap("keep", namespace))
    out = once()
    assert out.returncode == 0, out.stdout
    return out


def assert_kept(kubectl, namespace, *names):
    for name in names:
        assert get(kubectl, "configmap", name, namespace) is not None, f"{name} was lost"


@pytest.mark.parametrize("guards", ["on", "off"])
def test_emptied_file(namespace, kubectl, addons, once, bystander, guards):
    converge(addons, once, namespace, "a")
    addons.write("a.yaml", text="# emptied by a broken config-management run\n")
    out = once(KUBE_ADDONS_GUARDS=guards)
    if guards == "off":  # upstream: the live object is deleted
        assert "configmap/a pruned" in out.stdout
        assert get(kubectl, "configmap", "a", namespace) is None
        return
    assert out.returncode == 1, out.stdout
    assert "WRN: == guard silent-drop: a.yaml is empty" in out.stdout
    assert out.stdout.splitlines()[-1].endswith("held back 1")
    assert_kept(kubectl, namespace, "a", "keep")
    # still held on the next run (state survives in the cluster)...
    assert once().returncode == 1
    assert_kept(kubectl, namespace, "a")
    # ...until the file is really deleted, which is an intended prune
    addons.remove("a.yaml")
    out = once()
    assert "configmap/a pruned" in out.stdout and out.returncode == 0, out.stdout


def test_file_renamed_to_bak(namespace, kubectl, addons, once, bystander):
    converge(addons, once, namespace, "a")
    os.rename(addons.root / "a.yaml", addons.root / "a.yaml.bak")
    out = once()
    assert "a.yaml was renamed to a.yaml.bak" in out.stdout
    assert_kept(kubectl, namespace, "a", "keep")


def test_invalid_yaml(namespace, kubectl, addons, once, bystander):
    converge(addons, once, namespace, "a")
    addons.write("a.yaml", text="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n")
    out = once()
    assert out.returncode == 1
    assert "guard silent-drop" in out.stdout and "a.yaml:" in out.stdout
    assert_kept(kubectl, namespace, "a", "keep")


def test_symlinked_subdirectory(namespace, kubectl, addons, once, bystander, tmp_path):
    addons.write("sub/a.yaml", configmap("a", namespace))
    converge(addons, once, namespace)
    real = tmp_path / "elsewhere"
    os.rename(addons.root / "sub", real)
    os.symlink(real, addons.root / "sub")
    out = once()
    assert "symlinked directory sub" in out.stdout, out.stdout
    assert_kept(kubectl, namespace, "a", "keep")


@pytest.mark.parametrize("guards", ["on", "off"])
def test_label_typo(namespace, kubectl, addons, once, bystander, guards):
    converge(addons, once, namespace, "a")
    addons.write("a.yaml", configmap("a", namespace, mode="Reconcle"))
    out = once(KUBE_ADDONS_GUARDS=guards)
    if guards == "off":
        assert get(kubectl, "configmap", "a", namespace) is None
        return
    assert "no longer carry a valid mode label" in out.stdout
    assert_kept(kubectl, namespace, "a", "keep")


@pytest.mark.parametrize("guards", ["on", "off"])
def test_reconcile_to_ensure_exists_keeps_user_state(namespace, kubectl, addons, once, bystander,
                                                     guards):
    converge(addons, once, namespace, "a")
    kubectl("patch", "configmap", "a", "-n", namespace, "-p", '{"data":{"user":"added"}}')
    uid = get(kubectl, "configmap", "a", namespace)["metadata"]["uid"]
    addons.write("a.yaml", configmap("a", namespace, mode="EnsureExists"))
    once(KUBE_ADDONS_GUARDS=guards)
    live = get(kubectl, "configmap", "a", namespace)
    if guards == "off":  # upstream: deleted now, re-created a pass later without user state
        assert live is None
        once(**OFF)
        assert "user" not in get(kubectl, "configmap", "a", namespace)["data"]
        return
    assert live["metadata"]["uid"] == uid and live["data"]["user"] == "added"
    once()
    live = get(kubectl, "configmap", "a", namespace)
    assert live["metadata"]["uid"] == uid and live["data"]["user"] == "added"
    assert live["metadata"]["labels"]["addonmanager.kubernetes.io/mode"] == "EnsureExists"


def test_namespace_switch_to_ensure_exists(namespace, kubectl, addons, once):
    ns = namespace + "-owned"
    ns_obj = {"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": ns, "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}}}
    try:
        addons.write("ns.yaml", ns_obj)
        addons.write("keep.yaml", configmap("keep", namespace))
        assert once().returncode == 0
        kubectl("create", "configmap", "precious", "-n", ns, "--from-literal=k=v")
        uid = get(kubectl, "namespace", ns)["metadata"]["uid"]
        ns_obj["metadata"]["labels"]["addonmanager.kubernetes.io/mode"] = "EnsureExists"
        addons.write("ns.yaml", ns_obj)
        out = once()
        assert "guard mode-switch" in out.stdout, out.stdout
        live = get(kubectl, "namespace", ns)
        assert live["metadata"]["uid"] == uid
        assert live.get("status", {}).get("phase") == "Active"
        assert get(kubectl, "configmap", "precious", ns) is not None
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def test_mass_removal_is_held_until_confirmed(namespace, kubectl, addons, once, bystander):
    names = [f"m{i}" for i in range(10)]
    converge(addons, once, namespace, *names)
    for name in names:
        addons.remove(f"{name}.yaml")
    out = once()
    assert out.returncode == 1
    assert "ERR: == guard blast-radius: Reconcile: would prune 10 objects" in out.stdout
    assert_kept(kubectl, namespace, *names, "keep")
    out = once(KUBE_ADDONS_MAX_PRUNE="10")
    assert out.returncode == 0, out.stdout
    assert sum(ln.endswith(" pruned") for ln in out.stdout.splitlines()) == 10
    for name in names:
        assert get(kubectl, "configmap", name, namespace) is None


def test_foreign_reconcile_namespace_is_not_pruned(namespace, kubectl, addons, once):
    foreign = namespace + "-foreign"
    manifest = ('{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"%s","labels":'
                '{"addonmanager.kubernetes.io/mode":"Reconcile"}}}' % foreign)
    kubectl("apply", "-f", "-", input=manifest)  # another tool's apply
    try:
        addons.write("keep.yaml", configmap("keep", namespace))
        out = once()
        assert "would prune protected namespace/" + foreign in out.stdout, out.stdout
        assert get(kubectl, "namespace", foreign)["status"]["phase"] == "Active"
        out = once(KUBE_ADDONS_ALLOW_PRUNE=f"Namespace//{foreign}")
        assert f"namespace/{foreign} pruned" in out.stdout
        assert wait_gone(kubectl, "namespace", foreign, timeout=60)
    finally:
        kubectl("delete", "namespace", foreign, "--wait=false", "--ignore-not-found", check=False)


def test_unserved_allowlist_kind_is_left_out(namespace, kubectl, addons, once, bystander):
    extra = {"KUBECTL_EXTRA_PRUNE_WHITELIST": "batch/v1beta1/CronJob"}
    converge(addons, once, namespace, "a")
    addons.remove("a.yaml")
    out = once(**extra)
    assert "guard allowlist: the server does not serve batch/v1beta1/CronJob" in out.stdout
    assert "configmap/a pruned" in out.stdout  # upstream aborts the whole pass instead
    off = once(**extra, **OFF)
    assert off.returncode == 1 and "batch/v1beta1" in off.stdout


def test_paths_and_opts_with_spaces(namespace, kubectl, cluster, tmp_path, bystander):
    from tests.integration.addons import AddonDir, run_cli

    addons = AddonDir(tmp_path / "my addons")
    addons.write("sub dir/a b.yaml", configmap("a", namespace))
    conf_dir = tmp_path / "conf dir"
    conf_dir.mkdir()
    (conf_dir / "kube config").write_text(open(cluster.kubeconfig).read())
    out = run_cli(cluster, addons.root, "once",
                  KUBECTL_OPTS=f"--kubeconfig='{conf_dir / 'kube config'}'",
                  KUBE_ADDONS_GUARDS="off")
    assert out.returncode == 0, out.stdout
    assert get(kubectl, "configmap", "a", namespace) is not None


def test_missing_kubectl_binary(cluster, addons, tmp_path):
    from tests.integration.addons import run_cli

    out = run_cli(cluster, addons.root, "once", KUBECTL_BIN=str(tmp_path / "no-kubectl"))
    assert out.returncode == 2
    assert str(tmp_path / "no-kubectl") in out.stdout
