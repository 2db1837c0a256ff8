"""The daemon: startup, then passes every interval, stopped by SIGTERM."""

from __future__ import annotations

import datetime
import re
import signal
import subprocess
import sys
import time

from tests.integration.addons import cli_env, configmap, get

TS = re.compile(r" at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)")


def test_loop_three_passes(cluster, namespace, kubectl, addons, tmp_path):
    addons.write("a.yaml", configmap("a", namespace))
    admission = tmp_path / "admission"
    admission.mkdir()
    env = cli_env(
        cluster,
        addons.root,
        TEST_ADDON_CHECK_INTERVAL_SEC="2",
        KUBE_ADDONS_ADMISSION_DIR=str(admission),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kube_addons", "run", "--loop"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if sum("reconcile completed" in ln for ln in lines) == 3:
                break
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        rest, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert time.monotonic() - stopped_at < 2.5
    finally:
        if proc.poll() is None:
            proc.kill()
    heads = [ln.split(" at ")[0] for ln in lines]
    assert heads[0].startswith("INFO: == Generated kubectl prune allowlist flags: ")
    assert heads[1] == "INFO: == Kubernetes addon manager started"
    assert "INFO: == Default service account in the kube-system namespace ==" in heads
    entering = heads.index("INFO: == Entering periodical apply loop")
    per_pass = [
        "INFO: Leader election disabled.",
        "INFO: == Kubernetes addon ensure completed",
        "INFO: == Reconciling with deprecated label ==",
        "INFO: == Reconciling with addon-manager label ==",
        "INFO: == Kubernetes addon reconcile completed",
    ]
    ours = [h for h in heads[entering + 1 :] if h.startswith("INFO")]
    assert ours == per_pass * 3
    stamps = [
        datetime.datetime.fromisoformat(TS.search(ln).group(1))
        for ln in lines
        if "ensure completed" in ln
    ]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert all(1 <= gap <= 4 for gap in gaps), gaps
    assert get(kubectl, "configmap", "a", namespace) is not None
