"""Steady-state passes driven in-process: a Manager per mode, a Kubectl whose `on_result`
counts processes, getrusage for CPU (this process plus its reaped kubectl children)."""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from bench import apimetrics
from bench.procstat import self_and_children_cpu
from bench.report import EXACT, Block
from kube_addons import config as cfgmod
from kube_addons.devcluster import Cluster
from kube_addons.kubectl import Kubectl, Result
from kube_addons.logs import Log
from kube_addons.manager import Manager

ENV_EXACT = "KUBE_ADDONS_EXACT"
# Options of the daemon that must not leak from the caller's environment into a run.
_CLEARED = (ENV_EXACT, "KUBE_ADDONS_WATCH", "KUBE_ADDONS_METRICS_ADDR", "KUBE_ADDONS_LOG_FORMAT",
            "KUBE_ADDONS_STATE_CONFIGMAP", cfgmod.ENV_INTERVAL)
IDLE_QUIET_PER_SECOND = 3.0  # requests/s below which the cluster counts as settled

Say = Callable[[str], None]


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def mode_env(base: Mapping[str, str], cluster: Cluster, addon_path: str, mode: str,
             admission_dir: str = "", steady: bool = False) -> dict[str, str]:
    """The environment of a manager in `mode` (exact: KUBE_ADDONS_EXACT=1, guards off)."""
    env = {k: v for k, v in base.items() if k not in _CLEARED}
    env.update({
        cfgmod.ENV_ADDON_PATH: addon_path,
        cfgmod.ENV_KUBECTL_BIN: cluster.kubectl,
        cfgmod.ENV_KUBECTL_OPTS: f"--kubeconfig={cluster.kubeconfig}",
        cfgmod.ENV_LEADER_ELECTION: "false",
    })
    if admission_dir:
        env[cfgmod.ENV_ADMISSION_DIR] = admission_dir
    if mode == EXACT:
        # Upstream's calls exactly: no fast path and none of the guards' extra calls.
        env[ENV_EXACT] = "1"
        env[cfgmod.ENV_GUARDS] = "off"
    elif steady:
        # The steady blocks measure the optimised pass itself; the every-10th full pass is
        # exact by definition and is accounted for in the report's "1 in 10" columns.
        env[cfgmod.ENV_FULL_EVERY] = "0"
    return env


@dataclass
class CallLog:
    results: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.results.append(result)

    def take(self) -> list[Result]:
        taken, self.results = self.results, []
        return taken


@dataclass
class PassSample:
    wall: float
    cpu: float
    calls: list[Result]
    problems: list[str]


class Driver:
    """One long-lived Manager, as the daemon keeps one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.config = cfgmod.load(env)
        self.calls = CallLog()
        kubectl = Kubectl(self.config.kubectl_bin, self.config.kubectl_opts,
                          timeout=self.config.kubectl_timeout, on_result=self.calls.add)
        self._sink = open(os.devnull, "w")  # closed in close()
        self.manager = Manager(self.config, kubectl, Log(self._sink, self._sink),
                               threading.Event())

    def run_pass(self) -> PassSample:
        self.calls.take()
        cpu0 = self_and_children_cpu()
        t0 = time.monotonic()
        report = self.manager.run_pass(check_leader=False)
        wall = time.monotonic() - t0
        cpu = self_and_children_cpu() - cpu0
        problems = [p for call in report.calls for p in call.problems]
        return PassSample(wall, cpu, self.calls.take(), problems)

    def close(self) -> None:
        self._sink.close()


def configs_differ(base: Mapping[str, str], cluster: Cluster, addon_path: str) -> bool:
    """Whether config.load tells the modes apart (False until KUBE_ADDONS_EXACT is read)."""
    exact = cfgmod.load(mode_env(base, cluster, addon_path, EXACT))
    optimised = cfgmod.load(mode_env(base, cluster, addon_path, "optimised"))
    return exact != optimised


def scrape(cluster: Cluster) -> dict[apimetrics.Series, float]:
    return apimetrics.parse_request_totals(cluster.apiserver_metrics())


def settle(cluster: Cluster, max_seconds: float, window: float = 3.0, quiet: int = 2) -> float:
    """Wait until the controller manager has caught up: `quiet` windows in a row with the
    request rate near idle. Seconds waited."""
    start = time.monotonic()
    before = scrape(cluster)
    calm = 0
    while time.monotonic() - start < max_seconds and calm < quiet:
        time.sleep(window)
        after = scrape(cluster)
        busy = apimetrics.total(apimetrics.delta(before, after)) > IDLE_QUIET_PER_SECOND * window
        calm = 0 if busy else calm + 1
        before = after
    return time.monotonic() - start


def idle_rates(cluster: Cluster, seconds: float) -> dict[apimetrics.Key, float]:
    """Requests per second by (verb, resource) with no manager running (one window)."""
    before = scrape(cluster)
    t0 = time.monotonic()
    time.sleep(seconds)
    after = scrape(cluster)
    return apimetrics.rates(apimetrics.delta(before, after), time.monotonic() - t0)


def steady_idle(*windows: Mapping[apimetrics.Key, float]) -> dict[apimetrics.Key, float]:
    """Per key the lowest rate of several idle windows: a transient burst in one window (a
    controller catching up) must not be multiplied by a long block's duration."""
    if not windows:
        return {}
    keys = set(windows[0]).intersection(*windows[1:])
    return {key: min(w[key] for w in windows) for key in keys}


def apply_idle(block: Block, idle: Mapping[apimetrics.Key, float]) -> Block:
    """Requests per pass: the block's raw counts minus idle rate x block duration."""
    block.requests = apimetrics.per_pass(
        apimetrics.subtract_idle(block.raw_requests, idle, block.seconds), block.passes)
    return block


def _add_sample(block: Block, sample: PassSample) -> None:
    block.walls.append(sample.wall)
    block.cpu.append(sample.cpu)
    block.kubectl.append(len(sample.calls))
    for call in sample.calls:
        block.kubectl_by_verb[call.verb] = block.kubectl_by_verb.get(call.verb, 0) + 1
    if sample.problems:
        block.failed_passes += 1
        block.problems.extend(sample.problems[:5])


def measure(
    cluster: Cluster,
    driver: Driver,
    block: Block,
    passes: int,
    min_passes: int,
    soft_seconds: float,
    log: Say = say,
) -> Block:
    """`passes` steady passes (fewer, but at least `min_passes`, once `soft_seconds` are
    spent); raw API requests from a scrape before and after (see apply_idle)."""
    before = scrape(cluster)
    t0 = time.monotonic()
    for i in range(passes):
        sample = driver.run_pass()
        _add_sample(block, sample)
        failed = f", {len(sample.problems)} problem(s)" if sample.problems else ""
        log(f"{block.size} objects: {block.mode} pass {i + 1}/{passes} "
            f"({sample.wall:.2f} s, {len(sample.calls)} kubectl{failed})")
        spent = time.monotonic() - t0
        if i + 1 >= min_passes and i + 1 < passes and spent > soft_seconds:
            block.note = f"{i + 1} of {passes} passes (time cap {soft_seconds:.0f} s)"
            log(f"{block.size} objects: {block.mode}: {block.note}")
            break
    after = scrape(cluster)
    block.seconds = time.monotonic() - t0
    block.raw_requests = apimetrics.delta(before, after)
    return block


def first_pass(driver: Driver, block: Block, what: str, log: Say = say) -> Optional[float]:
    sample = driver.run_pass()
    block.warmup_wall = sample.wall
    if sample.problems:
        block.problems.extend(sample.problems[:5])
    log(f"{block.size} objects: {block.mode} {what} {sample.wall:.2f} s"
        f"{' with problems: ' + '; '.join(sample.problems[:2]) if sample.problems else ''}")
    return sample.wall
