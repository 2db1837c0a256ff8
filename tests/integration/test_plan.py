"""`kube-addons plan`: a server-side dry run with terraform's exit codes."""

from __future__ import annotations

import json

from tests.integration.addons import configmap, get, run_cli


def secret(name: str, namespace: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}},
            "data": {"password": value}}


def test_clean_then_drifted(cluster, namespace, kubectl, addons, once):
    addons.write("a.yaml", configmap("a", namespace), configmap("b", namespace),
                 secret("s", namespace, "aHVudGVyMg=="))
    addons.write("e.yaml", configmap("e", namespace, mode="EnsureExists"))

    fresh = run_cli(cluster, addons.root, "plan")
    assert fresh.returncode == 2, fresh.stdout
    assert get(kubectl, "configmap", "a", namespace) is None  # a dry run changes nothing

    assert once().returncode == 0
    clean = run_cli(cluster, addons.root, "plan")
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.splitlines()[0] == "No changes: the cluster matches ADDON_PATH."

    # Drift: an edit, a deleted EnsureExists object, a removed manifest, a changed secret.
    kubectl("-n", namespace, "patch", "configmap", "a", "-p", '{"data":{"key":"edited"}}')
    kubectl("-n", namespace, "delete", "configmap", "e")
    addons.write("a.yaml", configmap("a", namespace), secret("s", namespace, "czNjcmV0"))
    drifted = run_cli(cluster, addons.root, "plan")
    assert drifted.returncode == 2, drifted.stdout
    rows = [line.split()[:5] for line in drifted.stdout.splitlines()[1:] if line.strip()]
    assert ["create", "EnsureExists", "ConfigMap", namespace, "e"] in rows
    assert ["configure", "Reconcile", "ConfigMap", namespace, "a"] in rows
    assert ["configure", "Reconcile", "Secret", namespace, "s"] in rows
    assert ["prune", "Reconcile", "ConfigMap", namespace, "b"] in rows
    assert "czNjcmV0" not in drifted.stdout and "aHVudGVyMg" not in drifted.stdout
    assert drifted.stdout.splitlines()[-1].startswith("plan: 1 to create, 2 to configure, "
                                                      "1 to prune;")

    machine = run_cli(cluster, addons.root, "plan", "-o", "json")
    assert machine.returncode == 2
    doc = json.loads(machine.stdout[machine.stdout.index("{"):])
    assert doc["summary"]["prune"] == 1 and doc["exit_code"] == 2
    # Still only planned.
    assert get(kubectl, "configmap", "a", namespace)["data"] == {"key": "edited"}
    assert get(kubectl, "configmap", "b", namespace) is not None


def test_error_is_exit_1(cluster, namespace, addons):
    addons.write("a.yaml", configmap("a", namespace + "-missing"))
    result = run_cli(cluster, addons.root, "plan")
    assert result.returncode == 1, result.stdout
    assert f'namespace "{namespace}-missing" does not exist' in result.stdout
