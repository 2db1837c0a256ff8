"""What kube-addons picks up from the directory, and what prune may touch."""

from __future__ import annotations

import json

from tests.integration.addons import DEPRECATED, MODE, configmap, get


def service_account(name: str, namespace: str, mode: str = "Reconcile") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": {MODE: mode}},
    }


def test_directory_forms(namespace, kubectl, addons, once):
    addons.write(
        "nested/deeper/mixed.yaml",
        configmap("multi-r", namespace),
        configmap("multi-e", namespace, "EnsureExists"),
    )
    addons.write("one.json", text=json.dumps(configmap("from-json", namespace)))
    addons.write("other.yml", configmap("from-yml", namespace))
    addons.write("notes.txt", configmap("from-txt", namespace))
    addons.write("unlabelled.yaml", configmap("unlabelled", namespace, mode=None))
    addons.write("unknown.yaml", configmap("unknown", namespace, mode="Ignore"))
    out = once()
    assert out.returncode == 0, out.stdout
    for name in ("multi-r", "multi-e", "from-json", "from-yml"):
        assert get(kubectl, "configmap", name, namespace) is not None, name
    for name in ("from-txt", "unlabelled", "unknown"):
        assert get(kubectl, "configmap", name, namespace) is None, name


def test_deprecated_label(namespace, kubectl, addons, once):
    addons.write(
        "old.yaml",
        configmap("old", namespace, mode=None, data={"k": "1"}, labels={DEPRECATED: "true"}),
    )
    addons.write(
        "old-ensure.yaml",
        configmap(
            "old-ensure",
            namespace,
            mode="EnsureExists",
            data={"k": "1"},
            labels={DEPRECATED: "true"},
        ),
    )
    out = once()
    assert out.returncode == 0, out.stdout
    for name in ("old", "old-ensure"):
        kubectl("patch", "configmap", name, "-n", namespace, "-p", '{"data":{"k":"edited"}}')
    once()
    # cluster-service=true alone is reconciled; with EnsureExists it is only ensured
    assert get(kubectl, "configmap", "old", namespace)["data"] == {"k": "1"}
    assert get(kubectl, "configmap", "old-ensure", namespace)["data"] == {"k": "edited"}


def test_deprecated_pass_reports_no_objects_when_empty(namespace, addons, once):
    addons.write("a.yaml", configmap("a", namespace))
    out = once()
    lines = out.stdout.splitlines()
    i = lines.index("INFO: == Reconciling with deprecated label ==")
    assert lines[i + 1] == "error: no objects passed to apply"
    assert out.returncode == 0  # "no objects passed" is not a failure


def test_several_namespaces(namespace, kubectl, addons, once):
    other = namespace + "-b"
    kubectl("create", "namespace", other)
    try:
        addons.write("a.yaml", configmap("a", namespace), configmap("keep", namespace))
        addons.write("b.yaml", configmap("b", other), configmap("keep", other))
        assert once().returncode == 0
        assert get(kubectl, "configmap", "a", namespace) and get(kubectl, "configmap", "b", other)
        addons.write("a.yaml", configmap("keep", namespace))
        addons.write("b.yaml", configmap("keep", other))
        out = once()
        assert out.stdout.count("configmap/") >= 2
        assert get(kubectl, "configmap", "a", namespace) is None
        assert get(kubectl, "configmap", "b", other) is None
    finally:
        kubectl("delete", "namespace", other, "--wait=false")


def test_kind_outside_allowlist_is_not_pruned(namespace, kubectl, addons, once):
    addons.write("sa.yaml", service_account("robot", namespace))
    addons.write("keep.yaml", configmap("keep", namespace))
    once()
    assert get(kubectl, "serviceaccount", "robot", namespace) is not None
    addons.remove("sa.yaml")
    once()
    assert get(kubectl, "serviceaccount", "robot", namespace) is not None


def test_extra_allowlist_prunes_more(namespace, kubectl, addons, once):
    extra = {"KUBECTL_EXTRA_PRUNE_WHITELIST": "core/v1/ServiceAccount"}
    addons.write("sa.yaml", service_account("robot", namespace))
    addons.write("keep.yaml", configmap("keep", namespace))
    once(**extra)
    addons.remove("sa.yaml")
    out = once(**extra)
    assert "serviceaccount/robot pruned" in out.stdout
    assert get(kubectl, "serviceaccount", "robot", namespace) is None


def test_override_allowlist_replaces_defaults(namespace, kubectl, addons, once):
    override = {"KUBECTL_PRUNE_WHITELIST_OVERRIDE": "core/v1/Secret"}
    addons.write("a.yaml", configmap("a", namespace))
    addons.write("keep.yaml", configmap("keep", namespace))
    once(**override)
    addons.remove("a.yaml")
    out = once(**override)
    assert out.returncode == 0, out.stdout
    # ConfigMaps are no longer in the list, so the orphan stays
    assert get(kubectl, "configmap", "a", namespace) is not None
    out = once()
    assert get(kubectl, "configmap", "a", namespace) is None
