"""Helpers the integration-test fixtures share (kept here so unit tests can cover them)."""

from __future__ import annotations

import re
import secrets
import subprocess
from typing import Callable

KubectlFn = Callable[..., "subprocess.CompletedProcess[str]"]


class KubectlError(subprocess.CalledProcessError):
    """CalledProcessError whose message shows kubectl's stderr (pytest prints str())."""

    def __str__(self) -> str:
        return (
            f"{' '.join(map(str, self.cmd))} exited with {self.returncode}\n"
            f"stdout: {self.output}\nstderr: {self.stderr}"
        )


def namespace_name(test_name: str, suffix: str | None = None, max_short: int = 30) -> str:
    """``t-<short test name>-<random>``: a valid, unique DNS label (<= 63 chars)."""
    short = re.sub(r"\[.*$", "", test_name)  # drop parametrize ids
    short = re.sub(r"^test_?", "", short.lower())
    short = re.sub(r"[^a-z0-9-]+", "-", short).strip("-")[:max_short].strip("-") or "x"
    return f"t-{short}-{suffix or secrets.token_hex(3)}"


def make_kubectl(kubectl_bin: str, kubeconfig: str, default_timeout: float = 120.0) -> KubectlFn:
    """``kubectl(*args, input=None, check=True, timeout=...) -> CompletedProcess`` (text)."""

    def kubectl(
        *args: str,
        input: str | None = None,  # same name as subprocess.run's
        check: bool = True,
        timeout: float = default_timeout,
    ) -> subprocess.CompletedProcess[str]:
        argv = [kubectl_bin, f"--kubeconfig={kubeconfig}", *map(str, args)]
        res = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and res.returncode != 0:
            raise KubectlError(res.returncode, argv, res.stdout, res.stderr)
        return res

    return kubectl
