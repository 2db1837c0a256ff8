"""Leader election piggy-backing on the real kube-controller-manager Lease."""

from __future__ import annotations

from tests.integration.addons import configmap, get, run_cli


def test_matching_hostname_acts(cluster, namespace, kubectl, addons):
    addons.write("a.yaml", configmap("a", namespace))
    out = run_cli(
        cluster, addons.root, "run", ADDON_MANAGER_LEADER_ELECTION="true", HOSTNAME=cluster.hostname
    )
    assert out.returncode == 0, out.stdout
    leader_line = next(ln for ln in out.stdout.splitlines() if ln.startswith("INFO: Leader is"))
    assert leader_line.startswith(f"INFO: Leader is {cluster.hostname}_")
    assert get(kubectl, "configmap", "a", namespace) is not None


def test_other_hostname_changes_nothing(cluster, namespace, kubectl, addons):
    addons.write("a.yaml", configmap("a", namespace))
    out = run_cli(
        cluster, addons.root, "run", ADDON_MANAGER_LEADER_ELECTION="true", HOSTNAME="not-this-host"
    )
    assert out.returncode == 0, out.stdout
    lines = out.stdout.splitlines()
    assert any(
        ln.startswith(f"INFO: Leader is {cluster.hostname}_")
        and ln.endswith(", not not-this-host_*")
        for ln in lines
    )
    assert lines[-1] == "INFO: Not elected leader, going back to sleep."
    assert get(kubectl, "configmap", "a", namespace) is None


def test_election_off_acts(cluster, namespace, kubectl, addons):
    addons.write("a.yaml", configmap("a", namespace))
    out = run_cli(
        cluster, addons.root, "run", ADDON_MANAGER_LEADER_ELECTION="false", HOSTNAME="not-this-host"
    )
    assert out.returncode == 0, out.stdout
    assert "INFO: Leader election disabled." in out.stdout.splitlines()
    assert get(kubectl, "configmap", "a", namespace) is not None
