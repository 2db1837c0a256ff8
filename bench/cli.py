"""`python -m bench` / `make bench`: the whole benchmark, markdown to stdout, JSON to
bench/results/, and last the one ratio line."""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from bench import daemon, generate, report, steady
from bench.report import EXACT, MODES, OPTIMISED, Block
from bench.steady import Driver, say
from kube_addons.devcluster import Cluster, ensure_binaries
from kube_addons.devcluster.testing import make_kubectl
from kube_addons.state import configmap_name

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SMALL_MAX = 300  # sizes up to this get the full pass count in both modes


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    return int(text) if text else default


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.replace(",", " ").split()})
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive integers, got {text!r}")
    return sizes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    env = os.environ
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark kube-addons' optimised pass against --exact (upstream's calls) "
                    "on a local control plane. Every option also reads the BENCH_* variable "
                    "named in its help.")
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes(
        env.get("BENCH_SIZES") or "60,300,1000"),
        help="object counts, comma-separated (BENCH_SIZES) [60,300,1000]")
    p.add_argument("--steady-passes", type=int, default=_env_int("BENCH_STEADY_PASSES", 10),
                   help="steady passes per mode and size (BENCH_STEADY_PASSES) [10]")
    p.add_argument("--large-exact-passes", type=int,
                   default=_env_int("BENCH_LARGE_EXACT_PASSES", 1),
                   help=f"exact passes at sizes above {SMALL_MAX} "
                        "(BENCH_LARGE_EXACT_PASSES) [1]")
    p.add_argument("--large-block-seconds", type=int,
                   default=_env_int("BENCH_LARGE_BLOCK_SECONDS", 120),
                   help=f"above {SMALL_MAX} objects, stop a block after this many seconds once "
                        "3 passes are done (BENCH_LARGE_BLOCK_SECONDS) [120]")
    p.add_argument("--passes", type=int, default=_env_int("BENCH_PASSES", 1000),
                   help="passes of the RSS/CPU run (BENCH_PASSES) [1000]")
    p.add_argument("--rss-seconds", type=int, default=_env_int("BENCH_RSS_SECONDS", 240),
                   help="time cap of the RSS/CPU run (BENCH_RSS_SECONDS) [240]")
    p.add_argument("--budget", type=int, default=_env_int("BENCH_BUDGET_SECONDS", 840),
                   help="whole-run budget; the RSS run gets what is left "
                        "(BENCH_BUDGET_SECONDS) [840]")
    p.add_argument("--idle-seconds", type=int, default=_env_int("BENCH_IDLE_SECONDS", 6),
                   help="idle-baseline window, twice per size (BENCH_IDLE_SECONDS) [6]")
    p.add_argument("--latency-interval", type=int,
                   default=_env_int("BENCH_LATENCY_INTERVAL", 5),
                   help="loop interval of the poll-mode latency run (BENCH_LATENCY_INTERVAL) [5]")
    p.add_argument("--latency-trials", type=int, default=_env_int("BENCH_LATENCY_TRIALS", 3),
                   help="writes per latency run (BENCH_LATENCY_TRIALS) [3]")
    p.add_argument("--results-dir", type=Path, default=Path(
        env.get("BENCH_RESULTS_DIR") or RESULTS_DIR), help="where the JSON goes")
    return p.parse_args(argv)


@dataclass
class Run:
    args: argparse.Namespace
    cluster: Cluster
    tmp: Path
    deadline: float
    blocks: list[Block] = field(default_factory=list)
    sizes: dict[int, dict[str, Any]] = field(default_factory=dict)
    daemon: dict[str, Any] = field(default_factory=dict)
    live: list[Workload] = field(default_factory=list)
    modes_differ: Optional[bool] = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Workload:
    """One generated addon directory and the namespaces it lives in."""

    size: int
    root: Path
    objs: list[generate.Obj]
    namespaces: list[str]
    state_map: str


def prepare(run: Run, size: int, tag: str = "") -> Workload:
    """Generate `size` objects into a fresh directory and create their namespaces."""
    namespaces = generate.namespaces_for(size, tag=tag)
    objs = generate.generate(size, namespaces)
    root = run.tmp / f"addons-{size}{tag}"
    files = generate.write_addons(root, objs)
    kubectl = make_kubectl(run.cluster.kubectl, run.cluster.kubeconfig)
    for ns in namespaces:
        kubectl("create", "namespace", ns)
    work = Workload(size, root, objs, namespaces, configmap_name(str(root)))
    run.live.append(work)
    info = generate.counts(objs)
    info["files"] = len(files)
    say(f"{size} objects: generated {len(files)} files in {root} "
        f"({info['ensure_exists']} EnsureExists, {info['string_data_secrets']} stringData "
        f"Secrets)")
    if not tag:
        run.sizes[size] = {"generated": info}
    return work


def delete(run: Run, works: list[Workload], wait: bool) -> None:
    """Delete the workloads' namespaces and state ConfigMaps (waiting, so that the next
    size's LISTs and idle baseline see only its own objects)."""
    if not works:
        return
    kubectl = make_kubectl(run.cluster.kubectl, run.cluster.kubeconfig, default_timeout=180)
    namespaces = [ns for w in works for ns in w.namespaces]
    t0 = time.monotonic()
    try:
        kubectl("delete", "configmap", "-n", "kube-system", *[w.state_map for w in works],
                "--ignore-not-found", check=False)
        res = kubectl("delete", "namespace", *namespaces, "--ignore-not-found",
                      f"--wait={'true' if wait else 'false'}", "--timeout=150s", check=False)
        if res.returncode != 0:
            say(f"deleting {' '.join(namespaces)}: {res.stderr.strip()}")
    except (OSError, subprocess.SubprocessError) as exc:
        say(f"deleting {' '.join(namespaces)} failed: {exc}")
    for w in works:
        if w in run.live:
            run.live.remove(w)
    if wait:
        say(f"deleted {' '.join(namespaces)} in {time.monotonic() - t0:.0f} s")


def pass_plan(args: argparse.Namespace, size: int, mode: str) -> tuple[int, int, float]:
    """(passes, minimum passes, soft seconds) for one block."""
    if size <= SMALL_MAX:
        return args.steady_passes, args.steady_passes, float("inf")
    if mode == EXACT:
        return args.large_exact_passes, args.large_exact_passes, float("inf")
    minimum = min(3, args.steady_passes)
    return args.steady_passes, minimum, float(args.large_block_seconds)


def bench_size(run: Run, size: int) -> None:
    """Converge with the exact manager, settle, idle baseline, exact block, optimised
    block; then delete the objects."""
    work = prepare(run, size)
    root = str(work.root)
    base = dict(os.environ)
    if run.modes_differ is None:
        run.modes_differ = steady.configs_differ(base, run.cluster, root)
        if not run.modes_differ:
            say("warning: config.load() gives the same Config with and without "
                "KUBE_ADDONS_EXACT=1: both modes run the same pass for now")
    drivers = {mode: Driver(steady.mode_env(base, run.cluster, root, mode, steady=True))
               for mode in MODES}
    blocks = {mode: Block(size, mode) for mode in MODES}
    info = run.sizes[size]
    try:
        info["converge_seconds"] = steady.first_pass(
            drivers[EXACT], blocks[EXACT], "converge (first pass, from empty)")
        info["settle_seconds"] = steady.settle(run.cluster, max_seconds=60)
        idle_before = steady.idle_rates(run.cluster, run.args.idle_seconds)
        say(f"{size} objects: settled in {info['settle_seconds']:.0f} s; idle background "
            f"{sum(idle_before.values()):.2f} requests/s")
        for mode in MODES:
            if mode == OPTIMISED:
                steady.first_pass(drivers[mode], blocks[mode], "first pass (fresh manager)")
            passes, minimum, soft = pass_plan(run.args, size, mode)
            steady.measure(run.cluster, drivers[mode], blocks[mode], passes, minimum, soft)
            steady.apply_idle(blocks[mode], idle_before)  # provisional, see below
            run.blocks.append(blocks[mode])
        idle_after = steady.idle_rates(run.cluster, run.args.idle_seconds)
        idle = steady.steady_idle(idle_before, idle_after)
        for block in blocks.values():
            steady.apply_idle(block, idle)
        info["idle_requests_per_second"] = sum(idle.values())
        info["idle_windows"] = [report.jsonable(idle_before), report.jsonable(idle_after)]
        info["idle_rates"] = report.jsonable(idle)
        say(f"{size} objects: idle background (lower of two windows) "
            f"{info['idle_requests_per_second']:.2f} requests/s")
    finally:
        for driver in drivers.values():
            driver.close()
        delete(run, [work], wait=True)


def bench_daemon(run: Run, size: int) -> None:
    """On a fresh set of `size` objects: latency (poll, whose first pass converges; then
    --watch) and the long RSS/CPU run, all in the optimised mode."""
    work = prepare(run, size, tag="d")
    root, objs = work.root, work.objs
    admission = run.tmp / "admission-controls"
    admission.mkdir(exist_ok=True)
    env = steady.mode_env(os.environ, run.cluster, str(root), OPTIMISED, str(admission))
    args = run.args
    timeout = max(120.0, 4 * args.latency_interval)
    out = run.daemon
    out["size"] = size
    say(f"latency, poll mode: run --loop, interval {args.latency_interval} s, "
        f"{args.latency_trials} writes")
    out["latency_poll"] = daemon.latency_run(
        run.cluster, root, objs, env, run.tmp / "latency-poll.log", False,
        args.latency_interval, args.latency_trials, timeout)
    if daemon.watch_supported(env):
        say(f"latency, --watch: run --loop --watch, interval 60 s, {args.latency_trials} writes")
        out["latency_watch"] = daemon.latency_run(
            run.cluster, root, objs, env, run.tmp / "latency-watch.log", True, 60,
            args.latency_trials, timeout)
    else:
        out["latency_watch"] = {"mode": "watch", "error": "n/a: run --help has no --watch"}
    seconds = max(30.0, min(float(args.rss_seconds), run.deadline - time.monotonic() - 30))
    say(f"RSS/CPU run: run --loop, interval 0, {size} objects, up to {args.passes} passes "
        f"or {seconds:.0f} s")
    out["rss"] = daemon.rss_run(env, run.tmp / "rss.log", args.passes, seconds)


def cleanup(run: Run) -> None:
    delete(run, list(run.live), wait=False)


def kubectl_version(path: str) -> str:
    try:
        res = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True,
                             text=True, timeout=30, check=False)
        return json.loads(res.stdout)["clientVersion"]["gitVersion"]
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        return "unknown"


def git_commit() -> str:
    try:
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False,
                               cwd=Path(__file__).resolve().parent).stdout.strip()
        return res.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# -- output ---------------------------------------------------------------------------------


def _fmt(value: Optional[float], digits: int = 1, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def daemon_lines(d: dict[str, Any], cpu_optimised: Optional[float],
                 cpu_exact: Optional[float]) -> list[str]:
    lines = []
    rss = d.get("rss") or {}
    if rss:
        lines += [
            f"**Manager RSS/CPU** (`run --loop`, optimised, interval 0, {d.get('size')} objects): "
            f"{rss.get('passes_done')} of {rss.get('passes_requested')} passes in "
            f"{_fmt(rss.get('seconds'), 0)} s (cap {rss.get('time_cap_seconds', 0):.0f} s); "
            f"RSS after pass 1 {_fmt(rss.get('rss_first_mib'))} MiB, after warm-up "
            f"{_fmt(rss.get('rss_warm_mib'))} MiB, last {_fmt(rss.get('rss_last_mib'))} MiB, "
            f"spread after warm-up {_fmt(rss.get('rss_spread_after_warm_mib'))} MiB, "
            f"peak {_fmt((rss.get('vm_hwm_kib') or 0) / 1024 or None)} MiB; "
            f"CPU {_fmt(rss.get('cpu_s_per_pass'), 3)} s/pass, "
            f"wall {_fmt(rss.get('wall_s_per_pass'), 2)} s/pass.", ""]
    idle = (d.get("latency_watch") or {}).get("idle_millicores")
    # The daemon's default makes every 10th pass exact: average over that cycle.
    cycle = report.FULL_PASS_EVERY
    cpu_cycle = (((cycle - 1) * cpu_optimised + cpu_exact) / cycle
                 if cpu_optimised is not None and cpu_exact is not None else None)
    m_opt = report.millicores(cpu_optimised, idle_millicores=idle or 0.0)
    m_cycle = report.millicores(cpu_cycle, idle_millicores=idle or 0.0)
    m_exact = report.millicores(cpu_exact)
    idle_note = (f" + idle {idle:.1f}m measured between passes of the --watch run"
                 if idle is not None else " (idle CPU between passes not measured)")
    lines += [
        f"**Average CPU at the default 60 s interval, {d.get('size')} objects** (steady-pass CPU "
        f"of manager + kubectl / 60 s{idle_note}): optimised {_fmt(m_opt)}m, with the "
        f"default full pass every {cycle}th {_fmt(m_cycle)}m, exact "
        f"{_fmt(m_exact)}m (static pod requests {report.POD_REQUEST_MILLICORES}m; upstream "
        f"≈ {report.UPSTREAM_MILLICORES}m).", ""]
    for key in ("latency_poll", "latency_watch"):
        lat = d.get(key) or {}
        if not lat:
            continue
        values = lat.get("latencies") or []
        s = report.summary(values)
        text = (", ".join(f"{v:.2f}" for v in values) + " s; median "
                + _fmt(s["median"], 2) + " s") if values else "n/a"
        err = f" ({lat['error']})" if lat.get("error") else ""
        interval = f", interval {lat['interval']} s" if "interval" in lat else ""
        lines += [f"**Write → visible latency, {lat.get('mode')}{interval}**: {text}{err}", ""]
    return lines


def render(run: Run, elapsed: float) -> str:
    blocks = run.blocks
    parts = ["## kube-addons benchmark", "",
             f"kubectl {kubectl_version(run.cluster.kubectl)}, {os.cpu_count()} cores, load "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, run {elapsed:.0f} s. Requests "
             "are per pass from `apiserver_request_total`, idle background subtracted; CPU is "
             "manager + kubectl children. \"first pass\": exact = converge from empty, "
             "optimised = a fresh manager's first pass on the converged cluster.", ""]
    if run.modes_differ is False:
        parts += ["**Warning:** `KUBE_ADDONS_EXACT=1` did not change the Config: both modes "
                  "ran the same pass.", ""]
    parts += [report.steady_table(blocks), "", "**Ratios optimised/exact**", "",
              report.ratio_table(blocks), ""]
    sizes = sorted({b.size for b in blocks})
    if len(sizes) > 1:
        g = report.growth(report.find(blocks, sizes[0], OPTIMISED),
                          report.find(blocks, sizes[-1], OPTIMISED))
        parts += [f"**Growth {sizes[0]} → {sizes[-1]} objects (optimised)**: objects "
                  f"×{_fmt(g['objects'])}, wall ×{_fmt(g['wall'])}, requests "
                  f"×{_fmt(g['requests'])} (linear = the objects factor).", ""]
    parts += ["**API requests per pass by verb and resource**", "",
              report.requests_table(blocks), ""]
    small = min(sizes) if sizes else None
    cpu_opt = report.find(blocks, small, OPTIMISED) if small else None
    cpu_ex = report.find(blocks, small, EXACT) if small else None
    parts += daemon_lines(run.daemon, cpu_opt.cpu_per_pass if cpu_opt else None,
                          cpu_ex.cpu_per_pass if cpu_ex else None)
    for b in blocks:
        if b.problems:
            parts.append(f"- {b.size} {b.mode}: {b.failed_passes} failed pass(es): "
                         f"{'; '.join(b.problems[:3])}")
    for err in run.errors:
        parts.append(f"- error: {err}")
    return "\n".join(parts).rstrip() + "\n"


def to_json(run: Run, elapsed: float, final: str) -> dict[str, Any]:
    sizes = sorted({b.size for b in run.blocks})
    return {
        "version": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_seconds": elapsed,
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg(),
                    "python": platform.python_version()},
        "kubectl": kubectl_version(run.cluster.kubectl),
        "modes_differ": run.modes_differ,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(run.args).items()},
        "sizes": run.sizes,
        "blocks": [report.block_json(b) for b in run.blocks],
        "ratios": {str(size): report.block_ratios(report.find(run.blocks, size, OPTIMISED),
                                                  report.find(run.blocks, size, EXACT))
                   for size in sizes},
        "daemon": run.daemon,
        "errors": run.errors,
        "ratio_line": final,
    }


def final_line(blocks: list[Block], sizes: Sequence[int]) -> str:
    measured = sorted({b.size for b in blocks}) or list(sizes)
    size = report.ratio_size(measured)
    r = report.block_ratios(report.find(blocks, size, OPTIMISED), report.find(blocks, size, EXACT))
    return report.ratio_line(size, r["wall"], r["requests"])


def write_json(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def execute(run: Run) -> None:
    for size in run.args.sizes:
        try:
            bench_size(run, size)
        except Exception as exc:  # report what was measured, then the error
            run.errors.append(f"{size} objects: {type(exc).__name__}: {exc}")
            say(f"{size} objects failed: {exc}")
    small = min(run.args.sizes)
    if small in run.sizes:
        try:
            bench_daemon(run, small)
        except Exception as exc:
            run.errors.append(f"daemon runs: {type(exc).__name__}: {exc}")
            say(f"daemon runs failed: {exc}")


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="kube-addons-bench-"))
    text, final, exit_code = "", final_line([], args.sizes), 1
    try:
        say(f"sizes {args.sizes}; control plane binaries: {ensure_binaries()}")
        with Cluster() as cluster:
            run = Run(args, cluster, tmp, started + args.budget)
            try:
                execute(run)
            finally:
                cleanup(run)
            elapsed = time.monotonic() - started
            final = final_line(run.blocks, args.sizes)
            text = render(run, elapsed)
            path = write_json(args.results_dir, to_json(run, elapsed, final))
            say(f"wrote {path}")
            exit_code = 1 if run.errors else 0
    except Exception as exc:
        say(f"failed: {type(exc).__name__}: {exc}")
        text = f"benchmark failed: {type(exc).__name__}: {exc}\n"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.write(text + "\n")
    print(final, flush=True)
    sys.exit(exit_code)
