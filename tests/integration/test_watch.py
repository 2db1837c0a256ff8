"""`run --loop --watch`: a change under ADDON_PATH starts a pass within 2 s."""

from __future__ import annotations

import datetime
import time

from tests.integration.addons import configmap, get, wait_gone
from tests.integration.daemon import Daemon

TRIGGER = "== Change under "


def parse_ts(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def triggers(daemon: Daemon) -> list[float]:
    return [parse_ts(r["ts"]) for r in daemon.records() if r["msg"].startswith(TRIGGER)]


def passes_done(daemon: Daemon) -> int:
    return sum(1 for r in daemon.records() if "reconcile completed" in r["msg"])


def test_changes_trigger_a_pass_within_2s(cluster, namespace, kubectl, addons, tmp_path):
    addons.write("keep.yaml", configmap("keep", namespace))
    daemon = Daemon(cluster, addons.root, tmp_path / "watch.log", "run", "--loop", "--watch",
                    "--log-format", "json", TEST_ADDON_CHECK_INTERVAL_SEC="600")
    try:
        daemon.wait_for(lambda: passes_done(daemon) >= 1, what="the first pass")
        assert any("(watchdog)" in r["msg"] for r in daemon.records())

        latencies = []
        for step, change in enumerate((
            lambda: addons.write("new.yaml", configmap("new", namespace)),        # create
            lambda: addons.write("new.yaml", configmap("new", namespace,         # write
                                                       data={"key": "v2"})),
            lambda: (addons.root / "new.yaml").rename(addons.root / "renamed.yaml"),
            lambda: addons.remove("renamed.yaml"),                                # delete
        ), start=1):
            written = time.time()
            change()
            daemon.wait_for(lambda n=step: len(triggers(daemon)) >= n, timeout=10,
                            what=f"trigger {step}")
            latencies.append(triggers(daemon)[step - 1] - written)
            daemon.wait_for(lambda n=step: passes_done(daemon) > n, what=f"pass {step}")
            if step == 1:
                applied = time.time() - written
                assert get(kubectl, "configmap", "new", namespace) is not None
            elif step == 2:
                assert get(kubectl, "configmap", "new", namespace)["data"] == {"key": "v2"}
        print(f"watch trigger latencies: {[round(x, 2) for x in latencies]} s; "
              f"file written -> object applied: {applied:.2f} s")
        assert max(latencies) < 2.0, latencies
        assert wait_gone(kubectl, "configmap", "new", namespace, timeout=10)
        # The interval (600 s) never came round: every pass was a watch pass.
        assert passes_done(daemon) == 5
    finally:
        assert daemon.stop() == 0
