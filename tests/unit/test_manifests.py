from __future__ import annotations

import json
import os

import pytest

from kube_addons import manifests
from kube_addons.manifests import (
    DEPRECATED, ENSURE_EXISTS, IGNORED, RECONCILE, Identity, classify, scan, scan_file,
)

MODE = "addonmanager.kubernetes.io/mode"
OLD = "kubernetes.io/cluster-service"


@pytest.mark.parametrize("labels,cls", [
    ({MODE: "Reconcile"}, RECONCILE),
    ({MODE: "EnsureExists"}, ENSURE_EXISTS),
    ({OLD: "true"}, DEPRECATED),
    ({OLD: "true", MODE: "Reconcile"}, DEPRECATED),
    ({OLD: "true", MODE: "EnsureExists"}, ENSURE_EXISTS),
    ({OLD: "false", MODE: "Reconcile"}, RECONCILE),
    ({MODE: "reconcile"}, IGNORED),
    ({MODE: "Ignore"}, IGNORED),
    ({}, IGNORED),
])
def test_classes_follow_upstreams_selectors(labels, cls):
    assert classify(labels) == cls


def test_walk_like_kubectl(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "a.json").write_text(json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}))
    (tmp_path / ".hidden.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: h}\n")
    (tmp_path / "c.yaml.bak").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "r.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: r}\n")
    os.symlink(tmp_path / "real", tmp_path / "zlink")
    os.symlink(tmp_path / "a.json", tmp_path / "file-link.json")
    result = scan(str(tmp_path))
    names = [obj.identity.name for obj in result.objects]
    assert names == ["h", "a", "x", "a", "r"]
    assert result.skipped_links == [str(tmp_path / "zlink")]
    assert result.other_files == [str(tmp_path / "c.yaml.bak")]


def test_multi_document_lines_and_lists(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "# comment\n"
        "apiVersion: apps/v1\nkind: Deployment\n"
        "metadata: {name: d, namespace: ns, labels: {addonmanager.kubernetes.io/mode: Reconcile}}\n"
        "---\n"
        "---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: one}\n"
        "- apiVersion: rbac.authorization.k8s.io/v1\n  kind: Role\n  metadata: {name: two}\n"
    )
    result = scan_file(str(path))
    assert result.error is None
    ids = [obj.identity for obj in result.objects]
    assert ids == [Identity("apps", "Deployment", "ns", "d"), Identity("", "ConfigMap", "", "one"),
                   Identity("rbac.authorization.k8s.io", "Role", "", "two")]
    assert result.objects[0].line == 2
    assert result.objects[0].cls == RECONCILE
    assert str(ids[0]) == "Deployment.apps/ns/d"


@pytest.mark.parametrize("text,line,needle", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n", 5, "expected"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkey: : bad\n", 5,
     "mapping values"),
    ("apiVersion: v1\nmetadata: {name: x}\n", 1, "no kind"),
    ("- just\n- a list\n", 1, "must be a mapping"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: {a: true}}\n", 1, "quote it"),
])
def test_errors_name_file_and_line(tmp_path, text, line, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = scan_file(str(path))
    assert result.error is not None
    assert result.error.startswith(f"{path}:{line}:"), result.error
    assert needle in result.error


def test_yaml_error_line_is_right(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n\tbad: tab\n")
    assert scan_file(str(path)).error.startswith(f"{path}:5:")


def test_empty_file_is_marked_empty(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("# nothing here\n---\n")
    result = scan_file(str(path))
    assert result.empty and result.objects == [] and result.error is None


def test_missing_root(tmp_path):
    assert scan(str(tmp_path / "nope")).errors == [f"{tmp_path / 'nope'}: no such directory"]


def test_uses_the_fast_loader_when_available():
    assert manifests._Loader is getattr(manifests.yaml, "CSafeLoader", manifests.yaml.SafeLoader)
