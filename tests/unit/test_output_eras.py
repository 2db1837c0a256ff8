"""Whole passes over kubectl output of both eras: filters, log and `once` summary.

kubectl 1.9.3 (what the v8.6 image ships) cannot be run here, so its answers are written
down in the form its success printer used (`<resource> "<name>" <verb>`, no `unchanged`
verb, every steady-state object `configured`); 1.10 added the API group to the resource.
The newer form (`<kind>.<group>/<name> <verb>`, 1.11 on) was recorded from the real
kubectl 1.24 and 1.37 binaries against the test control plane.
"""
from __future__ import annotations

import threading

import pytest

from kube_addons import config
from kube_addons.kubectl import Kubectl
from kube_addons.manager import Manager

DEPRECATED_SEL = "kubernetes.io/cluster-service=true,addonmanager.kubernetes.io/mode!=EnsureExists"
RECONCILE_SEL = "kubernetes.io/cluster-service!=true,addonmanager.kubernetes.io/mode=Reconcile"

ERAS = {
    "1.9": dict(
        ensure=(
            'configmap "kube-dns-autoscaler" created\n'
            'Error from server (AlreadyExists): error when creating "/addons/dns/kube-dns-'
            'sa.yaml": serviceaccounts "kube-dns" already exists\n'
            'Error from server (AlreadyExists): error when creating "/addons/dns/kube-dns-'
            'cm.yaml": configmaps "kube-dns" already exists\n'
        ),
        ensure_code=1,
        reconcile=(
            'deployment "heapster-v1.5.0" configured\n'
            'service "heapster" configured\n'
            'clusterrolebinding "kubelet-cluster-admin" configured\n'
            'configmap "fluentd-config" created\n'
            'deployment "kube-dns-old" pruned\n'
        ),
        kept_ensure=['configmap "kube-dns-autoscaler" created'],
        kept_reconcile=['configmap "fluentd-config" created', 'deployment "kube-dns-old" pruned'],
        summary="created 2, configured 3, unchanged 0, pruned 1, errors 0",
    ),
    "1.10": dict(
        ensure='serviceaccount "kube-dns" created\n',
        ensure_code=0,
        reconcile=(
            'deployment.apps "heapster" configured\n'
            'clusterrolebinding.rbac.authorization.k8s.io "kubelet-cluster-admin" configured\n'
            'ingress.extensions "web" created\n'
            'daemonset.extensions "fluentd-old" pruned\n'
        ),
        kept_ensure=['serviceaccount "kube-dns" created'],
        kept_reconcile=['ingress.extensions "web" created',
                        'daemonset.extensions "fluentd-old" pruned'],
        summary="created 2, configured 2, unchanged 0, pruned 1, errors 0",
    ),
    "1.24-1.37": dict(
        ensure=(
            "configmap/ens created\n"
            'Error from server (AlreadyExists): error when creating "/addons/b.yaml": '
            'configmaps "kept" already exists\n'
        ),
        ensure_code=1,
        reconcile=(
            "configmap/keep configured\n"
            "configmap/same unchanged\n"
            "deployment.apps/web created\n"
            "clusterrole.rbac.authorization.k8s.io/system:coredns unchanged\n"
            "configmap/gone pruned\n"
        ),
        kept_ensure=["configmap/ens created"],
        kept_reconcile=["configmap/same unchanged", "deployment.apps/web created",
                        "clusterrole.rbac.authorization.k8s.io/system:coredns unchanged",
                        "configmap/gone pruned"],
        summary="created 2, configured 1, unchanged 2, pruned 1, errors 0",
    ),
}


@pytest.mark.parametrize("profile", ["v8.6", "v9.1.8"])
@pytest.mark.parametrize("era", sorted(ERAS))
def test_pass_filters_and_counts(fake, log, era, profile):
    data = ERAS[era]
    fake.on("create", code=data["ensure_code"], stdout=data["ensure"])
    fake.on(DEPRECATED_SEL, code=1, stderr="error: no objects passed to apply\n")
    fake.on(RECONCILE_SEL, stdout=data["reconcile"])
    cfg = config.load({"KUBECTL_BIN": fake.path, "ADDON_PATH": "/addons",
                       "ADDON_MANAGER_LEADER_ELECTION": "false", "KUBE_ADDONS_PROFILE": profile,
                       "KUBE_ADDONS_GUARDS": "off"})
    manager = Manager(cfg, Kubectl(cfg.kubectl_bin), log, threading.Event())
    report = manager.run_pass()
    lines = [line.split(" at ")[0] for line in log.text.splitlines()]
    assert lines == [
        "INFO: Leader election disabled.",
        *data["kept_ensure"],
        "INFO: == Kubernetes addon ensure completed",
        "INFO: == Reconciling with deprecated label ==",
        "error: no objects passed to apply",
        "INFO: == Reconciling with addon-manager label ==",
        *data["kept_reconcile"],
        "INFO: == Kubernetes addon reconcile completed",
    ]
    assert not report.failed  # AlreadyExists and "no objects" are the normal answers
    assert report.tally.summary() == data["summary"]


def test_old_era_real_error_is_reported(fake, log):
    fake.on("create", code=1, stdout=(
        'configmap "a" created\n'
        'Error from server (Forbidden): error when creating "/addons/b.yaml": configmaps "b" '
        'is forbidden: User "system:anonymous" cannot create configmaps in the namespace '
        '"kube-system"\n'))
    cfg = config.load({"KUBECTL_BIN": fake.path, "ADDON_PATH": "/addons",
                       "ADDON_MANAGER_LEADER_ELECTION": "false", "KUBE_ADDONS_PROFILE": "v8.6",
                       "KUBE_ADDONS_GUARDS": "off"})
    manager = Manager(cfg, Kubectl(cfg.kubectl_bin), log, threading.Event())
    report = manager.ensure()
    assert report.failed
    assert report.problems == [report.result.stdout.splitlines()[1]]
