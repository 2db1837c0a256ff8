"""A local, real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
for integration tests and manual runs: ``python -m kube_addons.devcluster --help``."""

from __future__ import annotations

from kube_addons.devcluster.build import DEFAULT_VERSION, BuildError, ensure_binaries
from kube_addons.devcluster.cluster import Cluster, ClusterError

__all__ = ["DEFAULT_VERSION", "BuildError", "Cluster", "ClusterError", "ensure_binaries"]
