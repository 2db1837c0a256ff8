from __future__ import annotations

import base64
import json

from kube_addons import config, drift
from kube_addons.fastpass import live_index, pending_prunes, printed_name
from kube_addons.manifests import RECONCILE, Identity, Manifest

MODE = "addonmanager.kubernetes.io/mode"


def manifest(body, cls=RECONCILE):
    meta = body["metadata"]
    group = body["apiVersion"].split("/")[0] if "/" in body["apiVersion"] else ""
    ident = Identity(group, body["kind"], meta.get("namespace", ""), meta["name"])
    return Manifest(ident, body["apiVersion"], meta.get("labels", {}), cls, "f.yaml", 1, body)


def cm_body(data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "labels": {MODE: "Reconcile"}},
            "data": data or {"k": "v"}}


def live_of(body, **changes):
    """A live object as the server returns it after `kubectl apply` of body."""
    last = drift.expected_last_applied(body, "ns")
    live = json.loads(json.dumps(body))
    live["metadata"].update(uid="u1", resourceVersion="7", annotations={
        drift.LAST_APPLIED: json.dumps(last, separators=(",", ":"))})
    live.update(changes)
    return live


def test_unchanged_when_applied_and_untouched():
    body = cm_body()
    assert drift.unchanged(manifest(body), live_of(body), "ns")


def test_drift_on_manifest_change_user_edit_missing_or_unannotated():
    body = cm_body()
    assert not drift.unchanged(manifest(cm_body({"k": "new"})), live_of(body), "ns")
    assert not drift.unchanged(manifest(body), live_of(body, data={"k": "edited"}), "ns")
    assert not drift.unchanged(manifest(body), None, "ns")
    created = live_of(body)
    created["metadata"]["annotations"] = {}
    assert not drift.unchanged(manifest(body), created, "ns")


def test_extra_live_fields_are_fine_but_list_lengths_are_not():
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "s", "namespace": "ns", "labels": {MODE: "Reconcile"}},
           "spec": {"ports": [{"port": 80}]}}
    live = live_of(svc)
    live["spec"] = {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                    "clusterIP": "10.0.0.5", "type": "ClusterIP"}
    assert drift.unchanged(manifest(svc), live, "ns")
    live["spec"]["ports"].append({"port": 81})
    assert not drift.unchanged(manifest(svc), live, "ns")


def test_quantities_in_another_form_count_as_drift():
    assert not drift.subset({"cpu": "0.1"}, {"cpu": "100m"})
    assert not drift.subset({"n": 1}, {"n": True})
    assert drift.subset({"n": 1.5}, {"n": 1.5})


def test_secret_string_data_converges():
    body = {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "ns", "labels": {MODE: "Reconcile"}},
            "stringData": {"password": "pw"}}
    live = live_of(body)
    del live["stringData"]
    live["data"] = {"password": base64.b64encode(b"pw").decode()}
    live["type"] = "Opaque"
    assert drift.unchanged(manifest(body), live, "ns")
    live["data"]["password"] = base64.b64encode(b"changed").decode()
    assert not drift.unchanged(manifest(body), live, "ns")


def test_expected_last_applied_has_kubectls_empty_annotations():
    body = cm_body()
    del body["metadata"]["namespace"]
    last = drift.expected_last_applied(body, "ns")
    assert last["metadata"]["annotations"] == {} and last["metadata"]["namespace"] == "ns"
    assert "annotations" not in body["metadata"]  # the manifest itself is untouched


def test_printed_names():
    assert printed_name(Identity("", "ConfigMap", "ns", "a")) == "configmap/a"
    assert printed_name(Identity("apps", "Deployment", "ns", "d")) == "deployment.apps/d"
    assert printed_name(Identity("rbac.authorization.k8s.io", "ClusterRole", "", "r")) == (
        "clusterrole.rbac.authorization.k8s.io/r")


def test_pending_prunes_follow_kubectls_rules():
    body = cm_body()
    objs = [manifest(body)]
    gone = live_of(cm_body())
    gone["metadata"]["name"] = "gone"
    elsewhere = json.loads(json.dumps(gone))
    elsewhere["metadata"]["namespace"] = "other"
    created = json.loads(json.dumps(gone))
    created["metadata"]["name"] = "created"
    created["metadata"]["annotations"] = {}
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "foreign", "labels": {MODE: "Reconcile"},
        "annotations": {drift.LAST_APPLIED: "{}"}}}
    live = live_index([live_of(body), gone, elsewhere, created, ns_obj])
    scopes = {("", "configmap"): True, ("", "namespace"): False}
    allow = {("", "configmap"), ("", "namespace")}
    pending = pending_prunes(RECONCILE, objs, live, allow, scopes)
    assert sorted(i.name for i in pending) == ["foreign", "gone"]
    assert pending_prunes(RECONCILE, objs, live, {("", "namespace")}, scopes)[0].name == "foreign"


def test_cache_dir_when_home_is_read_only(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    try:
        env = {"HOME": str(home), "KUBECTL_BIN": "/bin/true"}
        if not __import__("os").access(str(home), __import__("os").W_OK):
            assert config.load(env).kubectl_cache_dir.endswith("kube-addons-kubectl-cache")
        assert config.load({**env, "KUBECACHEDIR": "/c"}).kubectl_cache_dir == ""
        assert config.load({"HOME": str(tmp_path), "KUBECTL_BIN": "/bin/true"}
                           ).kubectl_cache_dir == ""
    finally:
        home.chmod(0o755)
