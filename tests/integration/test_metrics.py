"""`--metrics-addr`: /metrics scraped over HTTP, /healthz 200 then 503 when a pass hangs."""

from __future__ import annotations

import stat
import urllib.error
import urllib.request

from tests.integration.addons import configmap, manager_kubectl
from tests.integration.daemon import Daemon, free_port


def scrape(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _sep, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def health(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_and_healthz(cluster, namespace, addons, tmp_path):
    addons.write("a.yaml", configmap("a", namespace))
    # A kubectl that hangs once a marker exists: a wedged pass.
    marker = tmp_path / "hang"
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'[ -e {marker} ] && sleep 60\n'
        f'exec {manager_kubectl(cluster)} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Daemon(cluster, addons.root, tmp_path / "metrics.log", "run", "--loop",
                    "--metrics-addr", f"127.0.0.1:{port}", KUBECTL_BIN=str(wrapper),
                    TEST_ADDON_CHECK_INTERVAL_SEC="1")
    try:
        daemon.wait_for(lambda: daemon.text().count("reconcile completed") >= 2,
                        what="two passes")
        values = scrape(base + "/metrics")
        assert values['kube_addons_passes_total{result="success"}'] >= 2
        # The optimised pass may answer later applies without kubectl.
        assert values['kube_addons_kubectl_calls_total{result="success",verb="apply"}'] >= 1
        assert values["kube_addons_pass_duration_seconds_count"] >= 2
        assert values['kube_addons_objects_total{operation="created"}'] == 1
        assert values["kube_addons_last_successful_pass_timestamp_seconds"] > 0
        assert values["kube_addons_leader"] == 1
        assert health(base + "/healthz") == 200

        marker.touch()
        daemon.wait_for(lambda: health(base + "/healthz") == 503, timeout=15,
                        what="/healthz to turn 503 on a hanging pass")
    finally:
        assert daemon.stop() == 0
