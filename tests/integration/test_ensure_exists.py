"""EnsureExists mode on the real control plane: created once, then left alone."""

from __future__ import annotations

from tests.integration.addons import configmap, get


def test_ensure_exists_lifecycle(namespace, kubectl, addons, once):
    addons.write("e.yaml", configmap("e", namespace, mode="EnsureExists", data={"k": "1"}))
    addons.write("keep.yaml", configmap("keep", namespace))

    out = once()
    assert out.returncode == 0, out.stdout
    assert "configmap/e created" in out.stdout
    live = get(kubectl, "configmap", "e", namespace)
    assert live["data"] == {"k": "1"}
    # created, not applied: never a prune candidate
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        live["metadata"].get("annotations") or {}
    )

    # manifest change not applied; AlreadyExists is not an error and is not logged
    addons.write("e.yaml", configmap("e", namespace, mode="EnsureExists", data={"k": "2"}))
    out = once()
    assert out.returncode == 0, out.stdout
    assert "AlreadyExists" not in out.stdout
    assert get(kubectl, "configmap", "e", namespace)["data"] == {"k": "1"}

    # a user edit is kept
    kubectl("patch", "configmap", "e", "-n", namespace, "-p", '{"data":{"k":"mine"}}')
    once()
    assert get(kubectl, "configmap", "e", namespace)["data"] == {"k": "mine"}

    # deleted -> re-created from the file as it is now
    kubectl("delete", "configmap", "e", "-n", namespace)
    once()
    assert get(kubectl, "configmap", "e", namespace)["data"] == {"k": "2"}

    # file removed -> object kept
    addons.remove("e.yaml")
    out = once()
    assert out.returncode == 0, out.stdout
    assert get(kubectl, "configmap", "e", namespace) is not None
