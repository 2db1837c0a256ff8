from __future__ import annotations

import threading

import pytest

from kube_addons import config
from kube_addons.kubectl import Kubectl
from kube_addons.manager import Manager, prune_flag_words
from kube_addons.profiles import DEFAULT_PRUNE_ALLOWLIST

ENSURE = ["create", "-f", "/addons", "-l", "addonmanager.kubernetes.io/mode=EnsureExists",
          "--recursive"]
DEPRECATED_SEL = "kubernetes.io/cluster-service=true,addonmanager.kubernetes.io/mode!=EnsureExists"
RECONCILE_SEL = "kubernetes.io/cluster-service!=true,addonmanager.kubernetes.io/mode=Reconcile"


def make(fake, log, **env):
    # Guards off: the calls are then exactly upstream's (guards have their own tests).
    base = {"KUBECTL_BIN": fake.path, "ADDON_PATH": "/addons", "HOSTNAME": "me",
            "KUBE_ADDONS_GUARDS": "off", "KUBE_ADDONS_EXACT": "1"}
    cfg = config.load({**base, **env})
    kubectl = Kubectl(cfg.kubectl_bin, cfg.kubectl_opts)
    return Manager(cfg, kubectl, log, threading.Event())


def allowlist_words(flag, entries=DEFAULT_PRUNE_ALLOWLIST):
    return [w for e in entries for w in (flag, e)]


@pytest.mark.parametrize("minor,flag", [(25, "--prune-whitelist"), (26, "--prune-allowlist"),
                                        (32, "--prune-allowlist"), (37, "--prune-allowlist")])
def test_pass_argv_in_both_flag_eras(fake, log, minor, flag):
    fake.version(minor)
    manager = make(fake, log, KUBECTL_OPTS="--kubeconfig=/k", ADDON_MANAGER_LEADER_ELECTION="false")
    manager.run_pass()
    words = allowlist_words(flag)
    assert fake.calls() == [
        ["--kubeconfig=/k", *ENSURE],
        ["--kubeconfig=/k", "apply", "-f", "/addons", "-l", DEPRECATED_SEL, "--prune=true",
         *words, "--recursive"],
        ["--kubeconfig=/k", "apply", "-f", "/addons", "-l", RECONCILE_SEL, "--prune=true",
         *words, "--recursive"],
    ]


def test_override_and_extra_lists(fake, log):
    manager = make(fake, log, ADDON_MANAGER_LEADER_ELECTION="false",
                   KUBECTL_PRUNE_WHITELIST_OVERRIDE="core/v1/ConfigMap",
                   KUBECTL_EXTRA_PRUNE_WHITELIST="core/v1/ServiceAccount apps/v1/Deployment")
    manager.run_pass()
    apply = fake.calls()[2]
    assert apply[apply.index("--prune=true"):] == [
        "--prune=true", "--prune-allowlist", "core/v1/ConfigMap",
        "--prune-allowlist", "core/v1/ServiceAccount", "--prune-allowlist", "apps/v1/Deployment",
        "--recursive",
    ]


def test_blank_entries_skipped():
    assert prune_flag_words("--prune-allowlist", ("a", " ", "", "b")) == [
        "--prune-allowlist", "a", "--prune-allowlist", "b"]


def test_prune_flags_log_line_has_upstreams_double_space(fake, log):
    manager = make(fake, log, KUBECTL_PRUNE_WHITELIST_OVERRIDE="core/v1/ConfigMap core/v1/Secret")
    manager.log_prune_flags()
    assert log.text == (
        "INFO: == Generated kubectl prune allowlist flags: --prune-allowlist core/v1/ConfigMap "
        "--prune-allowlist core/v1/Secret  ==\n"
    )


def test_pass_log_and_filters(fake, log):
    fake.on("create", code=1, stdout="configmap/new created\n", stderr=(
        'Error from server (AlreadyExists): error when creating "/addons/a.yaml": '
        'configmaps "old" already exists\n'))
    fake.on(DEPRECATED_SEL, code=1, stderr="error: no objects passed to apply\n")
    fake.on(RECONCILE_SEL, stdout="configmap/a configured\nconfigmap/b unchanged\n"
            "deployment.apps/c created\nconfigmap/d pruned\n")
    fake.on("leases.v1.coordination.k8s.io", stdout="me_1234")
    manager = make(fake, log)
    report = manager.run_pass()
    lines = log.text.splitlines()
    assert [line.split(" at ")[0] for line in lines] == [
        "INFO: Leader is me_1234",
        "configmap/new created",
        "INFO: == Kubernetes addon ensure completed",
        "INFO: == Reconciling with deprecated label ==",
        "error: no objects passed to apply",
        "INFO: == Reconciling with addon-manager label ==",
        "configmap/b unchanged",
        "deployment.apps/c created",
        "configmap/d pruned",
        "INFO: == Kubernetes addon reconcile completed",
    ]
    assert not report.failed
    assert report.tally.summary() == "created 2, configured 1, unchanged 1, pruned 1, errors 0"


def test_stderr_of_an_apply_lands_before_its_filtered_stdout(fake, log):
    fake.on(RECONCILE_SEL, stdout="configmap/b created\n", stderr="Warning: something\n")
    make(fake, log, ADDON_MANAGER_LEADER_ELECTION="false").reconcile()
    body = [ln for ln in log.text.splitlines() if not ln.startswith("INFO")]
    assert body[-2:] == ["Warning: something", "configmap/b created"]


def test_real_errors_fail_the_pass(fake, log):
    fake.on(RECONCILE_SEL, code=1, stdout="configmap/a created\n", stderr=(
        'The ConfigMap "BAD" is invalid: metadata.name: Invalid value: "BAD"\n'))
    report = make(fake, log, ADDON_MANAGER_LEADER_ELECTION="false").run_pass()
    assert report.failed
    assert report.tally.errors == 1


def test_not_leader_does_nothing_else(fake, log):
    fake.on("leases.v1.coordination.k8s.io", stdout="other_1")
    report = make(fake, log).run_pass()
    assert not report.leader and report.calls == []
    assert log.text.splitlines() == ["INFO: Leader is other_1, not me_*",
                                     "INFO: Not elected leader, going back to sleep."]
    assert len(fake.calls()) == 1


def test_election_off_says_so_every_pass(fake, log):
    manager = make(fake, log, ADDON_MANAGER_LEADER_ELECTION="false")
    manager.run_pass()
    manager.run_pass()
    assert log.text.count("INFO: Leader election disabled.\n") == 2
    assert not any("leases" in " ".join(c) for c in fake.calls())
