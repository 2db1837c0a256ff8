"""`kube-addons validate` is offline; its prune warning is checked against the cluster."""

from __future__ import annotations

from tests.integration.addons import configmap, get, run_cli


def role(name: str, namespace: str) -> dict:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"addonmanager.kubernetes.io/mode": "Reconcile"}},
            "rules": []}


def test_findings_and_exit_codes_without_a_cluster(cluster, addons, tmp_path):
    addons.write("a.yaml", configmap("a", "n"))
    addons.write("twice.yaml", configmap("a", "n", mode="EnsureExists"))
    addons.write("plain.yaml", configmap("p", "n", mode=None))
    addons.write("broken.yaml", text="apiVersion: v1\nkind: ConfigMap\nmetadata:\n name: [x\n")
    # No kubectl at all: validate must not need one.
    result = run_cli(cluster, addons.root, "validate", KUBECTL_BIN=str(tmp_path / "none"))
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert any(ln.startswith(f"{addons.root}/broken.yaml:") and ": error: " in ln for ln in lines)
    assert any("is in both modes" in ln for ln in lines)
    assert any(": warning: ConfigMap/n/p: no addonmanager.kubernetes.io/mode label" in ln
               for ln in lines)
    assert lines[-1] == "validate: 3 objects in 4 files: 2 errors, 1 warnings"


def test_uncovered_kind_warning_is_true(cluster, namespace, kubectl, addons, once):
    addons.write("keep.yaml", configmap("keep", namespace))
    addons.write("role.yaml", role("r", namespace))
    result = run_cli(cluster, addons.root, "validate")
    assert result.returncode == 0, result.stdout
    assert "Role.rbac.authorization.k8s.io is not in the prune allowlist" in result.stdout
    assert run_cli(cluster, addons.root, "validate", "--strict").returncode == 1
    assert once().returncode == 0
    addons.remove("role.yaml")
    assert once().returncode == 0
    # As warned: removing the manifest did not delete it.
    assert get(kubectl, "role", "r", namespace) is not None
    assert run_cli(cluster, addons.root, "validate", "--strict").returncode == 0
