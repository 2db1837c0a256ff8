"""The optimised pass leaves the cluster exactly as the exact (upstream-identical) pass does.

The same scenario runs in two namespaces, one driven with KUBE_ADDONS_EXACT=1 and one
with the default optimised pass; after every step both namespaces must hold the same
objects with the same content.
"""
from __future__ import annotations

import json

import pytest

from tests.integration.addons import MODE, AddonDir, configmap, run_cli

KINDS = "configmaps,secrets,serviceaccounts,services"
VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def secret(name, ns, mode="Reconcile"):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": name, "namespace": ns, "labels": {MODE: mode}},
        "stringData": {"password": "s3cret"}}


def service(name, ns):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": name, "namespace": ns, "labels": {MODE: "Reconcile"}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


def service_account(name, ns):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
        "name": name, "namespace": ns, "labels": {MODE: "Reconcile"}}}


def snapshot(kubectl, ns) -> dict:
    items = json.loads(kubectl("get", KINDS, "-n", ns, "-o", "json").stdout)["items"]
    out = {}
    for item in items:
        meta = item["metadata"]
        if meta["name"] in ("default", "kube-root-ca.crt"):
            continue
        for key in VOLATILE:
            meta.pop(key, None)
        item.get("spec", {}).pop("clusterIP", None)
        item.get("spec", {}).pop("clusterIPs", None)
        item.pop("status", None)
        out[f"{item['kind']}/{meta['name']}"] = json.loads(json.dumps(item).replace(ns, "NS"))
    return out


def log_of(text: str, directory: AddonDir, ns: str) -> list[str]:
    text = text.replace(str(directory.root), "DIR").replace(ns, "NS")
    return [ln.split(" at ")[0] for ln in text.splitlines()
            if not ln.startswith("once:") and ln != "secret/s unchanged"]


@pytest.fixture
def pair(cluster, kubectl, namespace, tmp_path):
    from kube_addons.state import configmap_name

    other = namespace + "-x"
    kubectl("create", "namespace", other)
    dirs = {"exact": (AddonDir(tmp_path / "exact"), namespace),
            "fast": (AddonDir(tmp_path / "fast"), other)}
    yield dirs
    kubectl("delete", "namespace", other, "--wait=false")
    for directory, _ns in dirs.values():
        kubectl("delete", "configmap", "-n", "kube-system",
                configmap_name(str(directory.root)), "--ignore-not-found")


def test_same_cluster_after_every_step(cluster, kubectl, pair):
    def write(rel, make):
        for directory, ns in pair.values():
            directory.write(rel, *make(ns))

    def remove(rel):
        for directory, _ns in pair.values():
            directory.remove(rel)

    def user(*args):
        for _directory, ns in pair.values():
            kubectl(*args, "-n", ns)

    def step(**env):
        outs = {}
        for mode, (directory, _ns) in pair.items():
            extra = {"KUBE_ADDONS_EXACT": "1"} if mode == "exact" else {}
            out = run_cli(cluster, directory.root, "once", **extra, **env)
            outs[mode] = out
        a = snapshot(kubectl, pair["exact"][1])
        b = snapshot(kubectl, pair["fast"][1])
        assert a == b, (outs["exact"].stdout, outs["fast"].stdout)
        # the log a user sees is the same too, apart from timestamps, the summary, and a
        # stringData Secret that converges ("unchanged") instead of being patched each pass
        assert log_of(outs["exact"].stdout, *pair["exact"]) == log_of(
            outs["fast"].stdout, *pair["fast"])
        return outs

    write("a.yaml", lambda ns: [configmap("a", ns), configmap("keep", ns)])
    write("s.yaml", lambda ns: [secret("s", ns), service("svc", ns)])
    write("e.yaml", lambda ns: [configmap("e", ns, "EnsureExists"),
                                secret("es", ns, "EnsureExists")])
    write("sa.yaml", lambda ns: [service_account("robot", ns)])
    step()  # creates
    outs = step()  # steady state: the fast pass re-applies nothing
    assert "secret/s unchanged" in outs["fast"].stdout
    user("patch", "configmap", "a", "-p", '{"data":{"key":"edited"}}')
    user("patch", "configmap", "e", "-p", '{"data":{"key":"edited"}}')
    user("patch", "secret", "s", "-p", '{"stringData":{"password":"changed"}}')
    step()  # user edits: Reconcile reverted, EnsureExists kept
    user("delete", "configmap", "a")
    user("delete", "configmap", "e")
    step()  # deletions: both re-created
    write("a.yaml", lambda ns: [configmap("a", ns, data={"key": "v2"}), configmap("keep", ns)])
    step()  # manifest change
    remove("s.yaml")
    step()  # file removal: Secret and Service pruned
    write("a.yaml", lambda ns: [configmap("a", ns, "EnsureExists"), configmap("keep", ns)])
    step()  # mode label switch
    remove("sa.yaml")
    step()  # ServiceAccount is not in the default allowlist: kept
    step(KUBECTL_EXTRA_PRUNE_WHITELIST="core/v1/ServiceAccount")  # allowlist grows: pruned
    write("b.yaml", lambda ns: [configmap("b", ns)])
    step(KUBECTL_PRUNE_WHITELIST_OVERRIDE="core/v1/Secret")
    remove("b.yaml")
    step(KUBECTL_PRUNE_WHITELIST_OVERRIDE="core/v1/Secret")  # override: ConfigMap b kept
    step()  # default list again: b pruned
    assert "ConfigMap/b" not in snapshot(kubectl, pair["fast"][1])
