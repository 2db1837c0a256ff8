from __future__ import annotations

import pytest

from kube_addons import leader
from kube_addons.kubectl import Kubectl
from kube_addons.profiles import V9_1_8


@pytest.mark.parametrize("holder,hostname,is_leader,level,message", [
    ("master-1_0f1e2d", "master-1", True, "INFO", "Leader is master-1_0f1e2d"),
    ("master-1_0f1e2d", "master-2", False, "INFO", "Leader is master-1_0f1e2d, not master-2_*"),
    # the prefix must be the whole host name followed by an underscore
    ("master-10_abc", "master-1", False, "INFO", "Leader is master-10_abc, not master-1_*"),
    ("master-1", "master-1", False, "INFO", "Leader is master-1, not master-1_*"),
    # underscores and dots in host names are matched literally (#88214)
    ("node_a_b_1234", "node_a_b", True, "INFO", "Leader is node_a_b_1234"),
    ("ip-10-0-0-1.ec2.internal_77", "ip-10-0-0-1.ec2.internal", True, "INFO",
     "Leader is ip-10-0-0-1.ec2.internal_77"),
    ("ipX10-0-0-1_77", "ip.10-0-0-1", False, "INFO", "Leader is ipX10-0-0-1_77, not ip.10-0-0-1_*"),
    ("", "master-1", False, "ERR", "No leader election info found."),
])
def test_lease_decision(holder, hostname, is_leader, level, message):
    decision = leader.lease_decision(holder, hostname)
    assert (decision.leader, decision.level, decision.message) == (is_leader, level, message)


def test_lease_query_argv_carries_opts(fake, log):
    fake.on("leases.v1.coordination.k8s.io", stdout="host_123")
    kubectl = Kubectl(fake.path, ["--kubeconfig=/k"])
    assert leader.is_leader(V9_1_8, kubectl, log, "host") is True, log.text
    assert fake.calls() == [[
        "--kubeconfig=/k", "-n", "kube-system", "get", "leases.v1.coordination.k8s.io",
        "kube-controller-manager", "-o", "jsonpath={.spec.holderIdentity}",
    ]]
    assert log.text == "INFO: Leader is host_123\n"


def test_kubectl_failure_means_not_leader(fake, log):
    fake.on("leases.v1.coordination.k8s.io", code=1,
            stderr='Error from server (NotFound): leases.coordination.k8s.io '
                   '"kube-controller-manager" not found\n')
    kubectl = Kubectl(fake.path)
    assert leader.is_leader(V9_1_8, kubectl, log, "host") is False
    assert log.text.splitlines() == [
        'Error from server (NotFound): leases.coordination.k8s.io '
        '"kube-controller-manager" not found',
        "ERR: No leader election info found.",
    ]
