"""Experiments on a real `kube-addons run --loop` process: RSS and CPU over many passes,
and the latency from a manifest write to the change being visible in the cluster."""
from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from bench import generate
from bench.procstat import cpu_seconds, status_kib
from bench.steady import Say, say
from kube_addons.devcluster import Cluster, ClusterError
from kube_addons.devcluster.cluster import death_signal_preexec

# Upstream's line at the end of every pass (kept by every mode: it is the log contract).
PASS_MARKER = "addon reconcile completed at"
STOP_TIMEOUT = 15.0


def daemon_argv(watch: bool) -> list[str]:
    argv = [sys.executable, "-m", "kube_addons", "run", "--loop"]
    return argv + ["--watch"] if watch else argv


def watch_supported(env: Mapping[str, str]) -> bool:
    """`kube-addons run --help` mentions --watch."""
    res = subprocess.run([sys.executable, "-m", "kube_addons", "run", "--help"],
                         capture_output=True, text=True, env=dict(env), timeout=60, check=False)
    return "--watch" in res.stdout


class Daemon:
    """`kube-addons run --loop` with its log in a file; counts finished passes."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path,
                 on_pass: Optional[Callable[[int], None]] = None) -> None:
        self.on_pass = on_pass
        self.passes = 0
        self.started = time.monotonic()
        self._cond = threading.Condition()
        self._log = open(log_path, "w")  # closed in stop()
        self.proc = subprocess.Popen(
            argv, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
            # SIGKILL if this harness dies: an orphaned interval-0 loop would spin forever.
            preexec_fn=death_signal_preexec(os.getpid()),  # noqa: PLW1509
        )
        self._reader = threading.Thread(target=self._read, name="daemon-log", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            if PASS_MARKER in line:
                with self._cond:
                    self.passes += 1
                    count = self.passes
                    self._cond.notify_all()
                if self.on_pass is not None:
                    self.on_pass(count)
        with self._cond:
            self._cond.notify_all()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_passes(self, count: int, timeout: float) -> bool:
        """True once `count` passes have finished; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.passes < count:
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive():
                    return self.passes >= count
                self._cond.wait(min(left, 0.5))
        return True

    def stop(self) -> Optional[int]:
        """SIGTERM (kube-addons ends its kubectl and exits); SIGKILL to its group if not."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        self._log.close()
        return self.proc.returncode


def _sample(pid: int, passes: int, t0: float) -> Optional[dict[str, Any]]:
    rss = status_kib(pid, "VmRSS")
    cpu = cpu_seconds(pid)
    if rss is None or cpu is None:
        return None
    return {"pass": passes, "rss_kib": rss, "cpu_s": cpu, "t": time.monotonic() - t0}


def summarise_rss(samples: list[dict[str, Any]], hwm_kib: Optional[int],
                  warm_pass: int) -> dict[str, Any]:
    """RSS at the first sample, after `warm_pass`, at the end; spread after warm-up; CPU
    and wall per pass between the first and the last sample."""
    out: dict[str, Any] = {"samples": samples, "vm_hwm_kib": hwm_kib}
    if not samples:
        return out
    first, last = samples[0], samples[-1]
    warm = [s for s in samples if s["pass"] >= warm_pass] or [last]
    rss_warm = [s["rss_kib"] for s in warm]
    out.update({
        "rss_first_mib": first["rss_kib"] / 1024, "rss_last_mib": last["rss_kib"] / 1024,
        "rss_warm_mib": warm[0]["rss_kib"] / 1024,
        "rss_max_mib": max(s["rss_kib"] for s in samples) / 1024,
        "rss_spread_after_warm_mib": (max(rss_warm) - min(rss_warm)) / 1024,
        "rss_drift_after_warm_mib": (last["rss_kib"] - warm[0]["rss_kib"]) / 1024,
    })
    passes = last["pass"] - first["pass"]
    if passes > 0:
        out["cpu_s_per_pass"] = (last["cpu_s"] - first["cpu_s"]) / passes
        out["wall_s_per_pass"] = (last["t"] - first["t"]) / passes
    return out


def rss_run(env: Mapping[str, str], log_path: Path, passes: int, seconds: float,
            every: int = 50, log: Say = say) -> dict[str, Any]:
    """`run --loop` at interval 0 for `passes` passes or `seconds`, whichever comes first;
    RSS and CPU (own + reaped kubectl children, /proc) after pass 1 and every `every`."""
    env = dict(env, TEST_ADDON_CHECK_INTERVAL_SEC="0")
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    holder: dict[str, Daemon] = {}

    def on_pass(count: int) -> None:
        if count == 1 or count % every == 0:
            s = _sample(holder["d"].pid, count, t0)
            if s is not None:
                samples.append(s)
                log(f"RSS run: pass {count}/{passes}: RSS {s['rss_kib'] / 1024:.1f} MiB, "
                    f"CPU {s['cpu_s']:.1f} s")

    daemon = Daemon(daemon_argv(False), env, log_path, on_pass=None)
    holder["d"] = daemon
    daemon.on_pass = on_pass
    try:
        daemon.wait_passes(passes, seconds)
        done = daemon.passes
        final = _sample(daemon.pid, done, t0)
        hwm = status_kib(daemon.pid, "VmHWM")
    finally:
        code = daemon.stop()
    if final is not None and (not samples or samples[-1]["pass"] != done):
        samples.append(final)
    out = summarise_rss(samples, hwm, min(every, max(1, done)))
    out.update({"passes_requested": passes, "passes_done": done, "seconds": time.monotonic() - t0,
                "time_cap_seconds": seconds, "exit_code": code, "interval": 0,
                "sample_every": every})
    return out


def _visible(cluster: Cluster, target: generate.Obj, value: str) -> bool:
    path = f"/api/v1/namespaces/{target.namespace}/configmaps/{target.name}"
    try:
        data = json.loads(cluster.api_get(path, timeout=5)).get("data") or {}
    except (ClusterError, OSError, ValueError):
        return False
    return data.get(generate.LATENCY_KEY) == value


def latency_run(cluster: Cluster, root: Path, objs: list[generate.Obj], env: Mapping[str, str],
                log_path: Path, watch: bool, interval: int, trials: int, timeout: float,
                idle_seconds: float = 5.0, log: Say = say) -> dict[str, Any]:
    """Write a changed ConfigMap manifest while `run --loop` runs, poll the cluster every
    0.1 s until the new value is there. Poll mode writes at a random point of the interval.
    With --watch (interval left long), also the daemon's idle CPU between passes."""
    label = "watch" if watch else "poll"
    env = dict(env, TEST_ADDON_CHECK_INTERVAL_SEC=str(interval))
    target = generate.latency_target(objs)
    daemon = Daemon(daemon_argv(watch), env, log_path)
    out: dict[str, Any] = {"mode": label, "interval": interval, "latencies": [],
                           "target": f"ConfigMap {target.namespace}/{target.name}"}
    try:
        if not daemon.wait_passes(1, timeout):
            out["error"] = "first pass did not finish"
            return out
        if watch:
            out.update(_idle_cpu(daemon, idle_seconds))
        for trial in range(trials):
            if not watch:
                time.sleep(random.uniform(0, interval))
            before = daemon.passes
            value = f"bench-{trial}-{secrets.token_hex(3)}"
            t0 = time.monotonic()
            generate.set_value(root, objs, target, value)
            while not _visible(cluster, target, value):
                if time.monotonic() - t0 > timeout or not daemon.alive():
                    break
                time.sleep(0.1)
            else:
                latency = time.monotonic() - t0
                out["latencies"].append(latency)
                log(f"latency ({label}, interval {interval} s) trial {trial + 1}/{trials}: "
                    f"{latency:.2f} s")
                daemon.wait_passes(before + 1, timeout)  # let the pass that applied it end
                continue
            out["error"] = f"trial {trial + 1}: not visible within {timeout:.0f} s"
            log(f"latency ({label}): {out['error']}")
            break
    finally:
        out["exit_code"] = daemon.stop()
    return out


def _idle_cpu(daemon: Daemon, seconds: float) -> dict[str, Any]:
    """CPU of the sleeping daemon (no pass running) in millicores."""
    passes = daemon.passes
    cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
    if cpu0 is None or cpu1 is None or daemon.passes != passes:
        return {"idle_millicores": None}
    return {"idle_millicores": 1000.0 * (cpu1 - cpu0) / (t1 - t0), "idle_seconds": t1 - t0}
