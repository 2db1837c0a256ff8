"""Am I the leader? Upstream piggy-backs on kube-controller-manager's election.

The decision is a pure function of the holder string; fetching it goes through the
kubectl chokepoint. kube-controller-manager's holder identity is `<hostname>_<uuid>`.
Where the holder is read from (a Lease, or before v9.1.4 an annotation on Endpoints) is
the profile's `leader_source`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log
from kube_addons.profiles import LEADER_ENDPOINTS, LEADER_LEASE, SYSTEM_NAMESPACE, Profile

LEASE_RESOURCE = "leases.v1.coordination.k8s.io"
KCM_NAME = "kube-controller-manager"
ENDPOINTS_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
# v8.6 pulled the holderIdentity string out of the annotation's JSON with sed; a line
# without one went through unchanged (and then matched no host name).
_HOLDER_IDENTITY = re.compile(r'^.*"holderIdentity":"([^"]*)".*$')


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


def endpoints_argv() -> tuple[str, ...]:
    return (
        "-n",
        SYSTEM_NAMESPACE,
        "get",
        "ep",
        KCM_NAME,
        "-o",
        f'go-template={{{{index .metadata.annotations "{ENDPOINTS_ANNOTATION}"}}}}',
    )


def holder_host(annotation: str) -> str:
    """The host part of the holderIdentity in v8.6's leader annotation, line by line.

    v8.6 kept the text before the first underscore, so a host name containing one never
    matched and its addons were never applied (#88214). The identity is `<host>_<uuid>`
    and a UUID has no underscore, so we cut at the last one instead.
    """
    hosts = []
    for line in annotation.split("\n"):
        identity = _HOLDER_IDENTITY.sub(r"\1", line)
        hosts.append(identity.rpartition("_")[0] if "_" in identity else identity)
    return "\n".join(hosts)


def endpoints_decision(annotation: str, hostname: str, unknown_acts: bool) -> Decision:
    """v6.5-v9.0 rule: leader when the host part equals the host name or is unknown.

    Unknown covers a failed query (no Endpoints object on clusters whose controller
    manager elects through a Lease), so there every replica acts, as upstream did.
    """
    host = holder_host(annotation)
    leader = unknown_acts if host == "" else host == hostname
    return Decision(leader, "INFO", f"Leader is {host}")


def _lease(holder: str, hostname: str, profile: Profile) -> Decision:
    return lease_decision(holder, hostname)


def _endpoints(holder: str, hostname: str, profile: Profile) -> Decision:
    return endpoints_decision(holder, hostname, profile.unknown_leader_acts)


# leader_source -> (query argv, decision rule)
SOURCES: dict[str, tuple[Callable[[], tuple[str, ...]], Callable[..., Decision]]] = {
    LEADER_LEASE: (lease_argv, _lease),
    LEADER_ENDPOINTS: (endpoints_argv, _endpoints),
}


def fetch(kubectl: Kubectl, log: Log, argv: tuple[str, ...]) -> str:
    """The answer as bash's $(...) would see it; kubectl's stderr goes to the log.

    KUBECTL_OPTS are part of every call: v8.6 left them off this one query, so with a
    kubeconfig given only there it asked localhost:8080, found no leader and every
    replica acted (#80575).
    """
    result = kubectl.run(*argv)
    log.write(result.stderr, stderr=True)
    return result.stdout.rstrip("\n")


def fetch_holder(kubectl: Kubectl, log: Log) -> str:
    return fetch(kubectl, log, lease_argv())


def is_leader(profile: Profile, kubectl: Kubectl, log: Log, hostname: str) -> bool:
    query, rule = SOURCES[profile.leader_source]
    decision = rule(fetch(kubectl, log, query()), hostname, profile)
    log.line(decision.level, decision.message)
    return decision.leader
