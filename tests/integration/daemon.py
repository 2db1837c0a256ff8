"""A kube-addons process running in the background, its log in a file (for loop tests)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from tests.integration.addons import cli_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Daemon:
    def __init__(self, cluster, addon_path: Path, log_path: Path, *args: str, **env: str):
        self.log_path = log_path
        self.handle = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kube_addons", *args],
            env=cli_env(cluster, addon_path, **env),
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def text(self) -> str:
        return self.log_path.read_text()

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def records(self) -> list[dict]:
        """The JSON log (--log-format json); non-JSON lines are skipped."""
        found = []
        for line in self.lines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def wait_for(self, predicate: Callable[[], object], timeout: float = 30,
                 what: str = "condition") -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"kube-addons exited {self.proc.returncode} waiting for "
                                     f"{what}:\n{self.text()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.text()[-4000:]}")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 10) -> Optional[int]:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.handle.close()
        return self.proc.returncode
