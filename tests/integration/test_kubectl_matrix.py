"""The core scenarios with every kubectl this machine offers, against the v1.37 server.

One compact test per binary: create (Reconcile and EnsureExists), then a user edit is
reverted, a removed file is pruned and an edited EnsureExists object is kept. kubectl <=
1.25 rejects --prune-allowlist and >= 1.30 rejects --prune-whitelist, so a green run with
pruning proves the flag choice and the output filters on the real binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kube_addons.kubectl import ALLOWLIST_FLAG, WHITELIST_FLAG, Kubectl
from tests.integration.addons import configmap, get, run_cli, wait_gone
from tests.integration.kubectls import Candidate, candidates

BUILT = Candidate("built", 37, None)
CASES = [BUILT, *candidates()]
# Guards off: exactly upstream's three calls per pass, and the run stays short.
ENV = {"KUBE_ADDONS_GUARDS": "off"}


def binary_for(case: Candidate, cluster) -> Path:
    if case is BUILT:
        return Path(cluster.kubectl)
    if case.path is None:
        pytest.skip(case.missing)
    return case.path


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_core_scenarios(case, cluster, namespace, kubectl, addons):
    binary = str(binary_for(case, cluster))
    version = Kubectl(binary).client_version()
    assert version is not None and version[1] == case.minor, version
    expected_flag = WHITELIST_FLAG if version < (1, 26) else ALLOWLIST_FLAG
    assert Kubectl(binary).prune_flag() == expected_flag

    addons.write("keep.yaml", configmap("keep", namespace))
    addons.write("gone.yaml", configmap("gone", namespace))
    addons.write("ens.yaml", configmap("ens", namespace, mode="EnsureExists"))
    out = run_cli(cluster, addons.root, "once", KUBECTL_BIN=binary, **ENV)
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    for name in ("keep", "gone", "ens"):
        assert f"configmap/{name} created" in lines, out.stdout
    assert lines[-1] == "once: created 3, configured 0, unchanged 0, pruned 0, errors 0"

    kubectl("patch", "configmap", "keep", "-n", namespace, "-p", '{"data":{"key":"edited"}}')
    kubectl("patch", "configmap", "ens", "-n", namespace, "-p", '{"data":{"key":"edited"}}')
    addons.remove("gone.yaml")
    out = run_cli(cluster, addons.root, "once", KUBECTL_BIN=binary, **ENV)
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert "configmap/gone pruned" in lines, out.stdout
    assert not any("configured" in line for line in lines[:-1])  # upstream's grep -v
    assert not any("AlreadyExists" in line for line in lines)
    assert lines[-1] == "once: created 0, configured 1, unchanged 0, pruned 1, errors 0"

    assert get(kubectl, "configmap", "keep", namespace)["data"] == {"key": "value"}
    assert get(kubectl, "configmap", "ens", namespace)["data"] == {"key": "edited"}
    assert wait_gone(kubectl, "configmap", "gone", namespace)
