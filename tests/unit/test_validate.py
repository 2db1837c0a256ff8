from __future__ import annotations

import textwrap

from kube_addons.manifests import scan
from kube_addons.profiles import DEFAULT_PRUNE_ALLOWLIST
from kube_addons.validate import ERROR, WARNING, validate


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


def cm(name, ns="kube-system", mode="Reconcile", extra=""):
    meta = [f"name: {name}"]
    if ns:
        meta.append(f"namespace: {ns}")
    if mode:
        meta.append(f"labels: {{addonmanager.kubernetes.io/mode: {mode}}}")
    if extra:
        meta.append(extra)
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {" + ", ".join(meta) + "}\n"


def findings(root, allowlist=DEFAULT_PRUNE_ALLOWLIST):
    report = validate(scan(str(root)), allowlist)
    return report, [(f.level, f.where.rsplit("/", 1)[-1], f.message) for f in report.findings]


def test_clean_directory(tmp_path):
    write(tmp_path, "a.yaml", cm("a"))
    write(tmp_path, "sub/b.yaml", cm("b", mode="EnsureExists"))
    report, found = findings(tmp_path)
    assert found == []
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 0
    assert report.summary() == "validate: 2 objects in 2 files: 0 errors, 0 warnings"


def test_yaml_error_has_file_and_line(tmp_path):
    write(tmp_path, "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
          "   bad: indent\n")
    report, found = findings(tmp_path)
    assert found[0][0] == ERROR and found[0][1].startswith("bad.yaml:")
    assert report.exit_code() == 1


def test_missing_mode_label_is_a_warning_and_strict_fails(tmp_path):
    write(tmp_path, "a.yaml", cm("a", mode=None))
    report, found = findings(tmp_path)
    assert found == [(WARNING, "a.yaml:1", "ConfigMap/kube-system/a: no "
                      "addonmanager.kubernetes.io/mode label; kube-addons ignores this object")]
    assert report.exit_code() == 0 and report.exit_code(strict=True) == 1


def test_deprecated_label_alone_is_fine(tmp_path):
    write(tmp_path, "a.yaml", cm("a", mode=None,
                                 extra="labels: {kubernetes.io/cluster-service: 'true'}"))
    _report, found = findings(tmp_path)
    assert found == []


def test_unknown_mode_value(tmp_path):
    write(tmp_path, "a.yaml", cm("a", mode="reconcile"))
    report, found = findings(tmp_path)
    assert found[0][0] == ERROR and "unknown addonmanager.kubernetes.io/mode value " \
        "'reconcile'" in found[0][2]
    assert report.exit_code() == 1


def test_same_identity_in_two_files(tmp_path):
    write(tmp_path, "a.yaml", cm("x"))
    write(tmp_path, "b.yaml", cm("x"))
    _report, found = findings(tmp_path)
    assert found == [(ERROR, "a.yaml:1", f"ConfigMap/kube-system/x is also defined at "
                      f"{tmp_path}/b.yaml:1")]


def test_same_identity_twice_in_one_file(tmp_path):
    write(tmp_path, "a.yaml", cm("x") + "---\n" + cm("x"))
    _report, found = findings(tmp_path)
    assert len(found) == 1 and "defined twice in this file" in found[0][2]


def test_identity_in_both_modes(tmp_path):
    write(tmp_path, "a.yaml", cm("x"))
    write(tmp_path, "b.yaml", cm("x", mode="EnsureExists"))
    _report, found = findings(tmp_path)
    assert len(found) == 1 and "is in both modes: Reconcile at" in found[0][2]


def test_kind_outside_the_prune_allowlist_warns_once_per_kind(tmp_path):
    role = """\
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: %s, namespace: kube-system,
                   labels: {addonmanager.kubernetes.io/mode: Reconcile}}
        """
    write(tmp_path, "a.yaml", role % "r1" + "---\n" + role % "r2")
    write(tmp_path, "e.yaml", (role % "r3").replace("Reconcile", "EnsureExists"))
    report, found = findings(tmp_path)
    assert len(found) == 1
    level, where, message = found[0]
    assert (level, where) == (WARNING, "a.yaml:1")
    assert "Role.rbac.authorization.k8s.io is not in the prune allowlist" in message
    assert "(and 1 more)" in message
    assert "rbac.authorization.k8s.io/v1/Role to KUBECTL_EXTRA_PRUNE_WHITELIST" in message
    # The extra list covers it.
    assert findings(tmp_path, DEFAULT_PRUNE_ALLOWLIST + ("rbac.authorization.k8s.io/v1/Role",)
                    )[1] == []


def test_namespaced_object_without_namespace(tmp_path):
    write(tmp_path, "a.yaml", cm("a", ns=None))
    write(tmp_path, "ns.yaml", """\
        apiVersion: v1
        kind: Namespace
        metadata: {name: n, labels: {addonmanager.kubernetes.io/mode: Reconcile}}
        """)
    _report, found = findings(tmp_path)
    assert found == [(ERROR, "a.yaml:1", "ConfigMap/a: ConfigMap is namespaced but the manifest "
                      "names no namespace (kubectl would use the kubeconfig's)")]


def test_custom_kinds_take_their_scope_from_a_crd_in_the_directory(tmp_path):
    write(tmp_path, "crd.yaml", """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com,
                   labels: {addonmanager.kubernetes.io/mode: Reconcile}}
        spec: {group: example.com, scope: Cluster, names: {kind: Widget, plural: widgets}}
        """)
    write(tmp_path, "w.yaml", """\
        apiVersion: example.com/v1
        kind: Widget
        metadata: {name: w, labels: {addonmanager.kubernetes.io/mode: EnsureExists}}
        ---
        apiVersion: other.io/v1
        kind: Gadget
        metadata: {name: g, labels: {addonmanager.kubernetes.io/mode: EnsureExists}}
        """)
    _report, found = findings(tmp_path)
    assert [f for f in found if f[0] == ERROR] == []


def test_missing_directory_is_an_error(tmp_path):
    report, found = findings(tmp_path / "nope")
    assert report.exit_code() == 1
    assert found[0][0] == ERROR
