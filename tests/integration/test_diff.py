"""`kube-addons diff`: drift per reconciled object, Secrets masked, kubectl diff's codes."""

from __future__ import annotations

from tests.integration.addons import configmap, run_cli


def test_drift_and_masking(cluster, namespace, kubectl, addons, once):
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "s", "namespace": namespace,
                           "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}},
              "stringData": {"password": "hunter2"}}
    addons.write("a.yaml", configmap("a", namespace), secret)
    addons.write("e.yaml", configmap("e", namespace, mode="EnsureExists"))
    assert once().returncode == 0

    clean = run_cli(cluster, addons.root, "diff")
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout == ""

    kubectl("-n", namespace, "patch", "configmap", "a", "-p", '{"data":{"key":"edited"}}')
    kubectl("-n", namespace, "patch", "configmap", "e", "-p", '{"data":{"key":"edited"}}')
    secret["stringData"] = {"password": "s3cret"}
    addons.write("a.yaml", configmap("a", namespace), secret)
    drift = run_cli(cluster, addons.root, "diff")
    assert drift.returncode == 1, drift.stdout
    out = drift.stdout
    assert f"diff -u -N live/v1.ConfigMap.{namespace}.a merged/v1.ConfigMap.{namespace}.a" in out
    assert "-  key: edited\n+  key: value\n" in out
    assert f"v1.Secret.{namespace}.s" in out
    # Neither the old nor the new value, in data nor in last-applied-configuration.
    assert "hunter2" not in out and "s3cret" not in out
    assert "*** (before)" in out and "*** (after)" in out
    # EnsureExists objects are not reconciled, so their edits are not drift.
    assert ".e merged/" not in out


def test_error_exit_code(cluster, namespace, addons):
    addons.write("bad.yaml", text="apiVersion: v1\nkind: ConfigMap\nmetadata: [\n")
    result = run_cli(cluster, addons.root, "diff")
    assert result.returncode > 1, result.stdout
