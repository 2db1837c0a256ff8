"""Am I the leader? Upstream piggy-backs on kube-controller-manager's election.

The decision is a pure function of the holder string; fetching it goes through the
kubectl chokepoint. kube-controller-manager's holder identity is `<hostname>_<uuid>`.
"""
from __future__ import annotations

from dataclasses import dataclass

from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log
from kube_addons.profiles import LEADER_LEASE, SYSTEM_NAMESPACE, Profile

LEASE_RESOURCE = "leases.v1.coordination.k8s.io"
KCM_NAME = "kube-controller-manager"


@dataclass(frozen=True)
class Decision:
    leader: bool
    level: str
    message: str


def lease_decision(holder: str, hostname: str) -> Decision:
    """v9.1.4+: an unknown holder means "do not act"; the host name is matched literally."""
    if holder == "":
        return Decision(False, "ERR", "No leader election info found.")
    if holder.startswith(f"{hostname}_"):
        return Decision(True, "INFO", f"Leader is {holder}")
    return Decision(False, "INFO", f"Leader is {holder}, not {hostname}_*")


def lease_argv() -> tuple[str, ...]:
    return (
        "-n",
        SYSTEM_NAMESPACE,
        "get",
        LEASE_RESOURCE,
        KCM_NAME,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    )


def fetch_holder(kubectl: Kubectl, log: Log) -> str:
    """The holder as bash's $(...) would see it; kubectl's stderr goes to the log."""
    result = kubectl.run(*lease_argv())
    log.write(result.stderr, stderr=True)
    return result.stdout.rstrip("\n")


def is_leader(profile: Profile, kubectl: Kubectl, log: Log, hostname: str) -> bool:
    if profile.leader_source != LEADER_LEASE:
        raise NotImplementedError(profile.leader_source)
    decision = lease_decision(fetch_holder(kubectl, log), hostname)
    log.line(decision.level, decision.message)
    return decision.leader
