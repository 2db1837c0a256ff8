"""plan's reading of dry-run output (argv and parsing; the real thing is in integration)."""
from __future__ import annotations

import json
import threading

from kube_addons import config
from kube_addons.kubectl import Kubectl
from kube_addons.manager import Manager
from kube_addons.manifests import scan
from kube_addons.plan import (
    CONFIGURE,
    CREATE,
    PRUNE,
    make_plan,
    pruned_objects,
    render_json,
    render_table,
)

RECONCILE_SEL = "kubernetes.io/cluster-service!=true,addonmanager.kubernetes.io/mode=Reconcile"


def cm(name, ns, mode, kind="ConfigMap", api="v1", extra=""):
    return (f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}, namespace: {ns}, "
            f"labels: {{addonmanager.kubernetes.io/mode: {mode}}}}}\n{extra}")


def plan_for(fake, log, root):
    cfg = config.load({"KUBECTL_BIN": fake.path, "ADDON_PATH": str(root),
                       "KUBE_ADDONS_GUARDS": "off",
                       "KUBECTL_PRUNE_WHITELIST_OVERRIDE": "core/v1/ConfigMap"})
    manager = Manager(cfg, Kubectl(cfg.kubectl_bin), log, threading.Event())
    return make_plan(manager, scan(str(root)))


def test_every_call_is_the_pass_call_as_a_server_dry_run(fake, log, tmp_path):
    fake.on("create", code=1, stdout="error: no objects passed to create\n")
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    plan = plan_for(fake, log, tmp_path)
    assert plan.exit_code == 0 and plan.changes == [] and plan.errors == []
    calls = fake.calls()
    assert [c[0] for c in calls] == ["create", "apply", "apply"]
    assert all(c[-1] == "--dry-run=server" for c in calls)
    assert calls[2][:5] == ["apply", "-f", str(tmp_path), "-l", RECONCILE_SEL]
    assert "--prune-allowlist" in calls[2] and "--prune=true" in calls[2]


def test_changes_are_paired_with_manifests(fake, log, tmp_path):
    (tmp_path / "a.yaml").write_text(
        cm("same", "one", "Reconcile") + "---\n" + cm("same", "two", "Reconcile") + "---\n"
        + cm("s", "one", "Reconcile", kind="Secret", extra="stringData: {p: x}\n") + "---\n"
        + cm("d", "one", "Reconcile", kind="Deployment", api="apps/v1") + "---\n"
        + cm("e", "one", "EnsureExists") + "---\n" + cm("f", "one", "EnsureExists"))
    fake.on("create", code=1, stdout=(
        'Error from server (AlreadyExists): error when creating "x": configmaps "e" already '
        'exists\nconfigmap/f created (server dry run)\n'))
    pruned = [{"kind": "List", "items": []},
              {"kind": "ConfigMap", "metadata": {"name": "old", "namespace": "one"}}]
    fake.on("apply", "-o", "json", stdout="".join(json.dumps(d, indent=1) for d in pruned))
    fake.on("apply", RECONCILE_SEL, stdout=(
        "configmap/same unchanged (server dry run)\nconfigmap/same configured (server dry run)\n"
        "secret/s configured (server dry run)\ndeployment.apps/d created (server dry run)\n"
        "configmap/old pruned (server dry run)\n"))
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    plan = plan_for(fake, log, tmp_path)
    rows = [(c.action, c.cls, c.kind, c.namespace, c.name, c.note) for c in plan.changes]
    assert rows == [
        (CREATE, "EnsureExists", "ConfigMap", "one", "f", ""),
        (CREATE, "Reconcile", "Deployment", "one", "d", ""),
        (CONFIGURE, "Reconcile", "ConfigMap", "two", "same", ""),
        (CONFIGURE, "Reconcile", "Secret", "one", "s", "stringData: re-applied every pass"),
        (PRUNE, "Reconcile", "ConfigMap", "one", "old", ""),
    ]
    assert (plan.unchanged, plan.exists, plan.errors) == (1, 1, [])
    assert plan.exit_code == 2
    assert plan.changes[0].source == f"{tmp_path}/a.yaml:22"
    table = render_table(plan)
    assert table.splitlines()[0].split() == ["ACTION", "CLASS", "KIND", "NAMESPACE", "NAME",
                                             "SOURCE"]
    assert table.splitlines()[-1] == (
        "plan: 2 to create, 2 to configure, 1 to prune; 1 unchanged, "
        "1 EnsureExists already present")
    assert "x" not in [cell for line in table.splitlines() for cell in line.split()]
    doc = json.loads(render_json(plan))
    assert doc["exit_code"] == 2 and doc["summary"]["prune"] == 1


def test_objects_waiting_for_a_namespace_the_plan_creates(fake, log, tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: new, labels: "
        "{addonmanager.kubernetes.io/mode: Reconcile}}\n---\n"
        + cm("r", "new", "Reconcile") + "---\n" + cm("e", "new", "EnsureExists"))
    missing = f'Error from server (NotFound): error when creating "{tmp_path}/a.yaml": ' \
              'namespaces "new" not found\n'
    fake.on("create", code=1, stdout=missing)
    fake.on("apply", RECONCILE_SEL, code=1, stdout="namespace/new created (server dry run)\n",
            stderr=missing)
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    plan = plan_for(fake, log, tmp_path)
    assert plan.errors == []
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [
        (CREATE, "ConfigMap", "e"), (CREATE, "Namespace", "new"), (CREATE, "ConfigMap", "r")]
    assert plan.changes[0].note.startswith("one pass later: ensure runs before")
    assert plan.changes[2].note == "after namespace new, same pass"
    assert plan.notes and "prune candidates not known" in plan.notes[0]


def test_real_errors_make_exit_1(fake, log, tmp_path):
    (tmp_path / "a.yaml").write_text(cm("a", "gone", "Reconcile"))
    fake.on("create", code=1, stdout="error: no objects passed to create\n")
    fake.on("apply", RECONCILE_SEL, code=1, stderr=(
        f'Error from server (NotFound): error when creating "{tmp_path}/a.yaml": namespaces '
        '"gone" not found\n'))
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    plan = plan_for(fake, log, tmp_path)
    assert plan.exit_code == 1
    assert 'namespace "gone" does not exist' in plan.errors[0]


def test_pruned_objects_skip_the_applied_document():
    single = json.dumps({"kind": "ConfigMap", "metadata": {"name": "kept"}})
    pruned = json.dumps({"kind": "Secret", "metadata": {"name": "p", "namespace": "n"}})
    assert [o["metadata"]["name"] for o in pruned_objects(single + "\n" + pruned)] == ["p"]
    assert pruned_objects("") == []


def test_prunes_the_blast_radius_guard_would_hold_are_noted(fake, log, tmp_path):
    (tmp_path / "a.yaml").write_text(cm("keep", "one", "Reconcile"))
    fake.on("create", code=1, stdout="error: no objects passed to create\n")
    pruned = [{"kind": "ConfigMap", "metadata": {"name": "keep"}}] + [
        {"kind": "ConfigMap", "metadata": {"name": f"p{i}", "namespace": "one"}}
        for i in range(3)]
    fake.on("apply", "-o", "json", stdout="".join(json.dumps(d) for d in pruned))
    fake.on("apply", RECONCILE_SEL, stdout="configmap/keep unchanged (server dry run)\n" + "".join(
        f"configmap/p{i} pruned (server dry run)\n" for i in range(3)))
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    cfg = config.load({"KUBECTL_BIN": fake.path, "ADDON_PATH": str(tmp_path),
                       "KUBE_ADDONS_MAX_PRUNE": "2",
                       "KUBECTL_PRUNE_WHITELIST_OVERRIDE": "core/v1/ConfigMap"})
    manager = Manager(cfg, Kubectl(cfg.kubectl_bin), log, threading.Event())
    manager.safety.allowlist = lambda: cfg.prune_allowlist  # no discovery in a unit test
    plan = make_plan(manager, scan(str(tmp_path)))
    assert [c.name for c in plan.changes] == ["p0", "p1", "p2"]
    assert any("blast-radius guard will hold these prunes back" in n for n in plan.notes)
