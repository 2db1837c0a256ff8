"""Reconcile mode on the real control plane: create, update, revert, re-create, prune."""

from __future__ import annotations

from tests.integration.addons import configmap, get


def test_reconcile_lifecycle(namespace, kubectl, addons, once):
    addons.write("a.yaml", configmap("a", namespace, data={"k": "1"}))
    addons.write("keep.yaml", configmap("keep", namespace))

    out = once()
    assert out.returncode == 0, out.stdout
    assert "configmap/a created" in out.stdout
    assert get(kubectl, "configmap", "a", namespace)["data"] == {"k": "1"}

    # a manifest change is applied
    addons.write("a.yaml", configmap("a", namespace, data={"k": "2"}))
    assert once().returncode == 0
    assert get(kubectl, "configmap", "a", namespace)["data"] == {"k": "2"}

    # a user edit to a field the manifest sets is reverted
    kubectl("patch", "configmap", "a", "-n", namespace, "-p", '{"data":{"k":"edited"}}')
    out = once()
    assert "configmap/a" not in out.stdout  # the `configured` line is filtered out
    assert get(kubectl, "configmap", "a", namespace)["data"] == {"k": "2"}

    # a deleted object is re-created
    kubectl("delete", "configmap", "a", "-n", namespace)
    out = once()
    assert "configmap/a created" in out.stdout
    assert get(kubectl, "configmap", "a", namespace) is not None

    # file removed -> pruned (another Reconcile object still lives in the namespace)
    addons.remove("a.yaml")
    out = once()
    assert out.returncode == 0, out.stdout
    assert "configmap/a pruned" in out.stdout
    assert get(kubectl, "configmap", "a", namespace) is None
    assert get(kubectl, "configmap", "keep", namespace) is not None


def test_steady_state_reports_unchanged(namespace, addons, once):
    addons.write("a.yaml", configmap("a", namespace))
    once()
    out = once()
    assert "configmap/a unchanged" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("once: created 0, configured 0, unchanged 1")


def test_last_object_of_a_namespace_is_not_pruned(namespace, kubectl, addons, once):
    """kubectl only prunes namespaces that received an applied object (upstream quirk)."""
    addons.write("a.yaml", configmap("a", namespace))
    once()
    addons.remove("a.yaml")
    once()
    assert get(kubectl, "configmap", "a", namespace) is not None
