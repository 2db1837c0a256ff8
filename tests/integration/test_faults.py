"""Dead, frozen and restarted API servers; signals; kubectl that hangs."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.integration.addons import cli_env, configmap, get


class Daemon:
    """`kube-addons run --loop` in the background, its output collected line by line."""

    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kube_addons", "run", "--loop"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, count: int = 1, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(text in ln for ln in self.lines) >= count:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> float:
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return time.monotonic() - start

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def test_apiserver_stopped_mid_loop_then_restarted(cluster, namespace, kubectl, addons):
    addons.write("a.yaml", configmap("a", namespace))
    daemon = Daemon(cli_env(cluster, addons.root, TEST_ADDON_CHECK_INTERVAL_SEC="3",
                            KUBE_ADDONS_KUBECTL_TIMEOUT="15"))
    try:
        assert daemon.wait_for("reconcile completed"), daemon.text
        cluster.stop_apiserver()
        try:
            done = sum("reconcile completed" in ln for ln in daemon.lines)
            assert daemon.wait_for("reconcile completed", done + 1, timeout=60), daemon.text
            addons.write("b.yaml", configmap("b", namespace))
        finally:
            cluster.start_apiserver()
        restarted = time.monotonic()
        assert wait_until(lambda: get(kubectl, "configmap", "b", namespace), 45), daemon.text
        # converged within one interval (+ one pass) of the restart
        assert time.monotonic() - restarted < 3 + 30
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() < 3
    assert daemon.proc.returncode == 0


def test_frozen_apiserver_times_out_then_converges(cluster, namespace, kubectl, addons):
    addons.write("a.yaml", configmap("a", namespace))
    daemon = Daemon(cli_env(cluster, addons.root, TEST_ADDON_CHECK_INTERVAL_SEC="2",
                            KUBE_ADDONS_KUBECTL_TIMEOUT="3"))
    try:
        assert daemon.wait_for("reconcile completed"), daemon.text
        cluster.freeze_apiserver()
        try:
            assert daemon.wait_for("did not finish within 3s and was killed", timeout=60), \
                daemon.text
            addons.write("b.yaml", configmap("b", namespace))
        finally:
            cluster.thaw_apiserver()
        assert wait_until(lambda: get(kubectl, "configmap", "b", namespace), 60), daemon.text
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()


def test_sigterm_mid_pass_ends_kubectl_and_exits_0(cluster, namespace, addons, tmp_path):
    addons.write("a.yaml", configmap("a", namespace))
    marker = tmp_path / "slow-kubectl-pid"
    slow = tmp_path / "slow-kubectl"
    # A kubectl that hangs on apply, as one talking to a black-holed server would.
    slow.write_text(
        "#!/bin/bash\n"
        "for a in \"$@\"; do if [ \"$a\" = apply ]; then\n"
        f"  echo $$ > '{marker}'; sleep 300\n"
        "fi; done\n"
        f"exec '{cluster.kubectl}' \"$@\"\n")
    slow.chmod(0o755)
    daemon = Daemon(cli_env(cluster, addons.root, KUBECTL_BIN=str(slow)))
    try:
        assert wait_until(marker.exists, 60), daemon.text
    finally:
        elapsed = daemon.stop()
    assert daemon.proc.returncode == 0
    assert elapsed < 2.0
    pid = int(Path(marker).read_text())
    assert not Path(f"/proc/{pid}").exists(), "the hanging kubectl survived"
