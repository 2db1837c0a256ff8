"""What differs between the upstream addon-manager releases we reproduce, as values.

Every behaviour that changed between v8.6 and v9.1.8 is a field here; the code that
runs a pass reads the field and never asks which version it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MODE_LABEL = "addonmanager.kubernetes.io/mode"
DEPRECATED_LABEL = "kubernetes.io/cluster-service"
SYSTEM_NAMESPACE = "kube-system"

ENSURE_SELECTOR = f"{MODE_LABEL}=EnsureExists"
DEPRECATED_SELECTOR = f"{DEPRECATED_LABEL}=true,{MODE_LABEL}!=EnsureExists"
RECONCILE_SELECTOR = f"{DEPRECATED_LABEL}!=true,{MODE_LABEL}=Reconcile"

# The 16 kinds v9.1.8 passes to --prune-allowlist unless overridden.
DEFAULT_PRUNE_ALLOWLIST: tuple[str, ...] = (
    "core/v1/ConfigMap",
    "core/v1/Endpoints",
    "core/v1/Namespace",
    "core/v1/PersistentVolumeClaim",
    "core/v1/PersistentVolume",
    "core/v1/Pod",
    "core/v1/ReplicationController",
    "core/v1/Secret",
    "core/v1/Service",
    "batch/v1/Job",
    "batch/v1/CronJob",
    "apps/v1/DaemonSet",
    "apps/v1/Deployment",
    "apps/v1/ReplicaSet",
    "apps/v1/StatefulSet",
    "networking.k8s.io/v1/Ingress",
)

# Leader sources.
LEADER_LEASE = "lease"  # v9.1.4+: Lease kube-system/kube-controller-manager
LEADER_ENDPOINTS = "endpoints"  # v6.5..v9.0: annotation on Endpoints

# Service-account waits.
SA_EXISTS = "exists"  # v9.1.6+: the ServiceAccount object is enough
SA_TOKEN = "token"  # older: wait for its token secret (never comes on >= 1.24)


@dataclass(frozen=True)
class Profile:
    name: str
    # None: pass no prune flags at all unless the operator gave a list (v8.6).
    default_prune_allowlist: Optional[tuple[str, ...]]
    log_prune_flags: bool
    # The namespace the namespace file (/opt/namespace.yaml) is applied with, in the
    # background at startup ("" for v8.6, which gives `--namespace=`); None: no bootstrap.
    namespace_bootstrap: Optional[str]
    sa_wait: str
    # False: admission-control files are applied whatever their mode label (before v9.1.2).
    admission_label_aware: bool
    leader_source: str
    # What happens when the leader cannot be determined (empty answer).
    unknown_leader_acts: bool


V9_1_8 = Profile(
    name="v9.1.8",
    default_prune_allowlist=DEFAULT_PRUNE_ALLOWLIST,
    log_prune_flags=True,
    namespace_bootstrap=None,
    sa_wait=SA_EXISTS,
    admission_label_aware=True,
    leader_source=LEADER_LEASE,
    unknown_leader_acts=False,
)

# v8.6 (Feb 2018, kubectl 1.9.3). Two leader bugs of that release are fixed rather than
# reproduced (KUBECTL_OPTS on the query, #80575; underscores in host names, #88214), and
# the token wait gives up waiting for a token on servers that mint none (#108313): see
# leader.py and startup.py.
V8_6 = Profile(
    name="v8.6",
    default_prune_allowlist=None,
    log_prune_flags=False,
    namespace_bootstrap="",
    sa_wait=SA_TOKEN,
    admission_label_aware=False,
    leader_source=LEADER_ENDPOINTS,
    unknown_leader_acts=True,
)

PROFILES: dict[str, Profile] = {p.name: p for p in (V9_1_8, V8_6)}
DEFAULT_PROFILE = V9_1_8
