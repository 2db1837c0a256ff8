from __future__ import annotations

import os

from kube_addons import guards
from kube_addons.guards import PROTECTED_OUTPUT_KINDS, blast_radius, mode_switches, relabel_args
from kube_addons.manifests import ENSURE_EXISTS, IGNORED, RECONCILE, Identity, scan
from kube_addons.output import Operation

MODE = "addonmanager.kubernetes.io/mode"


def cm(name, mode="Reconcile", ns="ns"):
    labels = f"{{{MODE}: {mode}}}" if mode else "{}"
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}, "
            f"labels: {labels}}}\n")


def ident(name):
    return Identity("", "ConfigMap", "ns", name)


def setup_dir(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return scan(str(tmp_path))


def test_state_of(tmp_path):
    s = setup_dir(tmp_path, {"a.yaml": cm("a") + "---\n" + cm("b", "EnsureExists"), "e.yaml": ""})
    assert guards.state_of(s) == {"a.yaml": [(ident("a"), RECONCILE), (ident("b"), ENSURE_EXISTS)]}


def test_no_trip_for_intended_changes(tmp_path):
    prev = {"a.yaml": [(ident("a"), RECONCILE)], "b.yaml": [(ident("b"), RECONCILE),
                                                          (ident("c"), RECONCILE)]}
    # a.yaml deleted, c removed from b.yaml which still parses: both intended prunes
    s = setup_dir(tmp_path, {"b.yaml": cm("b")})
    plan = guards.silent_drops(prev, s)
    assert plan.decisions == [] and plan.no_prune == set()


def test_trips(tmp_path):
    prev = {"empty.yaml": [(ident("a"), RECONCILE)], "bad.yaml": [(ident("b"), RECONCILE)],
            "typo.yaml": [(ident("c"), RECONCILE)], "old.yaml": [(ident("d"), RECONCILE)],
            "sub/x.yaml": [(ident("x"), RECONCILE)]}
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.yaml").write_text(cm("x"))
    os.symlink(tmp_path / "real", tmp_path / "sub")
    s = setup_dir(tmp_path, {"empty.yaml": "", "bad.yaml": "a: [",
                             "typo.yaml": cm("c", "Reconcle"), "old.yaml.bak": cm("d")})
    plan = guards.silent_drops(prev, s)
    text = "\n".join(d.message for d in plan.decisions)
    assert "empty.yaml is empty" in text
    assert f"{tmp_path}/bad.yaml:2: did not find expected node content" in text
    assert "typo.yaml: ConfigMap/ns/c no longer carry a valid mode label" in text
    assert "old.yaml was renamed to old.yaml.bak" in text
    assert "sub/x.yaml is now under the symlinked directory sub" in text
    assert plan.no_prune == {RECONCILE}
    assert len(plan.decisions) == 5 and all(d.held for d in plan.decisions)
    # remembered until resolved
    state = guards.next_state(prev, s, plan, plan.no_prune)
    assert state["empty.yaml"] == prev["empty.yaml"]


def test_ensure_exists_files_never_trip(tmp_path):
    prev = {"e.yaml": [(ident("e"), ENSURE_EXISTS)]}
    s = setup_dir(tmp_path, {"e.yaml": ""})
    assert guards.silent_drops(prev, s).decisions == []


def test_mode_switches(tmp_path):
    prev = {"a.yaml": [(ident("a"), RECONCILE), (ident("b"), RECONCILE),
                       (ident("c"), ENSURE_EXISTS)]}
    s = setup_dir(tmp_path, {"a.yaml": cm("a", "EnsureExists") + "---\n" + cm("b") + "---\n"
                             + cm("c", "Reconcile")})
    switches = mode_switches(prev, s)
    assert [(m.identity.name, old) for m, old in switches] == [("a", RECONCILE)]
    assert relabel_args(switches[0][0]) == [f"{MODE}=EnsureExists",
                                            "kubernetes.io/cluster-service-"]


def test_removed(tmp_path):
    prev = {"a.yaml": [(ident("a"), RECONCILE), (ident("b"), RECONCILE)]}
    s = setup_dir(tmp_path, {"a.yaml": cm("a") + "---\n" + cm("b", None)})
    assert guards.removed(prev, s, RECONCILE) == [ident("b")]
    assert s.objects[1].cls == IGNORED


def ops(*pairs):
    return [Operation(kind, name, "pruned") for kind, name in pairs]


def test_blast_radius():
    assert blast_radius(ops(("configmap", "a")), 5, frozenset()) is None
    many = ops(*[("configmap", f"c{i}") for i in range(6)])
    assert "would prune 6 objects" in blast_radius(many, 5, frozenset())
    assert blast_radius(many, 6, frozenset()) is None
    assert "protected namespace/x" in blast_radius(ops(("namespace", "x")), 5, frozenset())
    assert blast_radius(ops(("namespace", "x")), 5, frozenset({"Namespace//x"})) is None
    assert blast_radius(ops(("persistentvolumeclaim", "data")), 5,
                        frozenset({"PersistentVolumeClaim/ns/data"})) is None
    assert "customresourcedefinition.apiextensions.k8s.io" in PROTECTED_OUTPUT_KINDS
