"""``python -m kube_addons.devcluster up|down|env|run|build``.

``up`` hands the cluster to a detached supervisor process (so the components' death
signal is tied to a process that outlives the shell command), ``down`` stops it, ``env``
prints the exports, ``run -- CMD`` runs CMD against a foreground cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kube_addons.devcluster import build
from kube_addons.devcluster.cluster import (
    Cluster,
    ClusterError,
    death_signal_preexec,
    tail_file,
)

DIR_ENV = "KUBE_ADDONS_DEVCLUSTER_DIR"
DEFAULT_DIR = ".devcluster"
STATE_FILE = "state.json"
SUPERVISOR_LOG = "supervisor.log"
UP_TIMEOUT = 240.0
DOWN_TIMEOUT = 30.0
CHILD_GRACE = 5.0
SUPERVISE_CMD = "_supervise"


class Interrupted(BaseException):
    """A terminating signal arrived; unwinds like KeyboardInterrupt so cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def log(message: str) -> None:
    print(f"[devcluster] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------


def resolve_dir(
    arg: str | None, environ: dict[str, str] | None = None, cwd: Path | None = None
) -> Path:
    env = os.environ if environ is None else environ
    raw = arg or env.get(DIR_ENV) or DEFAULT_DIR
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return path


def export_lines(kubeconfig: str, kubectl: str) -> str:
    return (
        f"export KUBECONFIG={shlex.quote(kubeconfig)}\nexport KUBECTL_BIN={shlex.quote(kubectl)}\n"
    )


def exit_code(returncode: int) -> int:
    """A child killed by signal N exits the way a shell reports it: 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def strip_dashdash(cmd: Sequence[str]) -> list[str]:
    cmd = list(cmd)
    return cmd[1:] if cmd and cmd[0] == "--" else cmd


def read_state(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(state_dir: Path, state: dict) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, state_dir / STATE_FILE)


def pid_alive(pid: int | None, needle: str | None = None) -> bool:
    """Alive and (if needle) its command line contains needle: guards against pid reuse."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False  # a zombie is gone for our purposes
        if needle is not None:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return needle.encode() in f.read()
    except (OSError, IndexError):
        return needle is None
    return True


def _raise_on_signal(signum: int, _frame: object) -> None:
    # Only the first signal unwinds; repeats must not interrupt the cleanup it started.
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def _install_signal_handlers(include_int: bool) -> None:
    sigs = [signal.SIGTERM, signal.SIGHUP] + ([signal.SIGINT] if include_int else [])
    for s in sigs:
        signal.signal(s, _raise_on_signal)


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------


def cmd_build(_args: argparse.Namespace) -> int:
    print(build.ensure_binaries())
    return 0


def _component_pids_alive(state: dict) -> dict[str, int]:
    return {n: p for n, p in (state.get("pids") or {}).items() if pid_alive(p, n)}


def _print_ready(state: dict, state_dir: Path) -> None:
    sys.stdout.write(export_lines(state["kubeconfig"], state["kubectl"]))
    sys.stdout.flush()
    log(f"cluster up at {state['server']} (state in {state_dir})")
    log('use it: eval "$(python -m kube_addons.devcluster env)"; "$KUBECTL_BIN" get ns')
    log("stop it: python -m kube_addons.devcluster down")


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = resolve_dir(args.dir)
    state = read_state(state_dir)
    if state and pid_alive(state.get("supervisor_pid"), SUPERVISE_CMD):
        if state.get("ready"):
            log("already up")
            _print_ready(state, state_dir)
            return 0
        log(f"a supervisor (pid {state['supervisor_pid']}) is still starting; run 'down' first")
        return 1
    bin_dir = build.ensure_binaries()  # in the foreground, with progress
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    proc = _spawn_supervisor(state_dir, bin_dir)
    try:
        return _wait_up(state_dir, proc)
    except BaseException:
        proc.terminate()  # the supervisor stops whatever it started
        _wait_gone([proc.pid], time.monotonic() + DOWN_TIMEOUT, SUPERVISE_CMD)
        raise


def _spawn_supervisor(state_dir: Path, bin_dir: Path) -> subprocess.Popen:
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    argv = [
        sys.executable,
        "-m",
        "kube_addons.devcluster",
        SUPERVISE_CMD,
        "--dir",
        str(state_dir),
        "--bin-dir",
        str(bin_dir),
    ]
    with open(state_dir / SUPERVISOR_LOG, "ab") as logf:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: terminal signals and our exit don't reach it
            close_fds=True,
            env=env,
        )


def _wait_up(state_dir: Path, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state and state.get("ready") and state.get("supervisor_pid") == proc.pid:
            _print_ready(state, state_dir)
            return 0
        if proc.poll() is not None:
            log(f"supervisor exited with code {proc.returncode}; its log:")
            sys.stderr.write(tail_file(state_dir / SUPERVISOR_LOG, 40))
            return 1
        time.sleep(0.2)
    log(f"timed out after {UP_TIMEOUT:.0f} s; supervisor log:")
    sys.stderr.write(tail_file(state_dir / SUPERVISOR_LOG, 40))
    proc.terminate()
    _wait_gone([proc.pid], time.monotonic() + DOWN_TIMEOUT, SUPERVISE_CMD)
    return 1


def cmd_supervise(args: argparse.Namespace) -> int:
    state_dir = Path(args.dir)
    workdir = state_dir / "cluster"
    _install_signal_handlers(include_int=True)
    write_state(state_dir, {"supervisor_pid": os.getpid(), "ready": False})
    cluster: Cluster | None = None
    try:
        shutil.rmtree(workdir, ignore_errors=True)  # every 'up' starts a fresh cluster
        cluster = Cluster(bin_dir=args.bin_dir, workdir=workdir)
        cluster.start()
        write_state(
            state_dir,
            {
                "supervisor_pid": os.getpid(),
                "ready": True,
                "server": cluster.server,
                "kubeconfig": cluster.kubeconfig,
                "kubectl": cluster.kubectl,
                "bin_dir": str(cluster.bin_dir),
                "workdir": str(cluster.workdir),
                "pids": cluster.pids(),
            },
        )
        return _supervise_loop(cluster, state_dir)
    except Interrupted as exc:
        log(f"signal {exc.signum}: stopping")
        return 0
    except ClusterError as exc:
        log(str(exc))
        return 1
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir / "etcd", ignore_errors=True)  # 64 MB of WAL; logs stay
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        log("stopped")


def _supervise_loop(cluster: Cluster, state_dir: Path) -> int:
    """Keep the cluster up until signalled; restart the KCM if it gave up its Lease."""
    while True:
        time.sleep(2)
        pids = cluster.pids()
        for name in ("etcd", "kube-apiserver"):
            if name not in pids:
                log(f"{name} died; its log:\n{tail_file(cluster.log_path(name))}")
                return 1
        if cluster.ensure_controller_manager(timeout=60):
            state = read_state(state_dir) or {}
            state["pids"] = cluster.pids()
            write_state(state_dir, state)


def _wait_gone(pids: list[int], deadline: float, needle: str | None = None) -> bool:
    while True:
        if not any(pid_alive(p, needle) for p in pids):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def cmd_down(args: argparse.Namespace) -> int:
    state_dir = resolve_dir(args.dir)
    state = read_state(state_dir)
    if not state:
        log(f"no cluster is up in {state_dir}")
        return 0
    sup = state.get("supervisor_pid")
    if pid_alive(sup, SUPERVISE_CMD):
        os.kill(sup, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    gone = _wait_gone([sup], deadline, SUPERVISE_CMD)
    comps = _component_pids_alive(state)
    gone = _wait_gone(list(comps.values()), deadline) and gone
    if not gone:
        log("supervisor did not stop in time; killing what is left")
        for pid in [sup, *_component_pids_alive(state).values()]:
            if pid_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)  # each was a session leader
                except (ProcessLookupError, PermissionError):
                    pass
        _wait_gone([sup, *comps.values()], time.monotonic() + 5)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    log("cluster stopped")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    state_dir = resolve_dir(args.dir)
    state = read_state(state_dir)
    if not (state and state.get("ready") and pid_alive(state.get("supervisor_pid"), SUPERVISE_CMD)):
        log(f"no cluster is up in {state_dir} (start one: python -m kube_addons.devcluster up)")
        return 1
    sys.stdout.write(export_lines(state["kubeconfig"], state["kubectl"]))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cmd = strip_dashdash(args.cmd)
    if not cmd:
        log("usage: python -m kube_addons.devcluster run -- CMD [ARGS...]")
        return 2
    _install_signal_handlers(include_int=False)  # SIGINT already raises KeyboardInterrupt
    cluster = Cluster(bin_dir=build.ensure_binaries())
    child: subprocess.Popen | None = None
    try:
        cluster.start()
        env = cluster.env()
        env["KUBECTL_BIN"] = cluster.kubectl
        try:
            # SIGTERM if we are SIGKILLed: CMD must not outlive the cluster it was given.
            preexec = death_signal_preexec(os.getpid(), signal.SIGTERM)
            child = subprocess.Popen(cmd, env=env, preexec_fn=preexec)  # noqa: PLW1509
        except OSError as exc:
            log(f"cannot run {cmd[0]}: {exc}")
            return 127
        return exit_code(child.wait())
    except KeyboardInterrupt:
        _stop_child(child, signal.SIGINT)
        return 130
    except Interrupted as exc:
        _stop_child(child, exc.signum)
        return 128 + exc.signum
    except ClusterError as exc:
        log(str(exc))
        return 1
    finally:
        cluster.stop()


def _stop_child(child: subprocess.Popen | None, sig: int) -> None:
    """Give CMD time to act on the signal (a terminal's Ctrl-C reached it too), then
    pass the signal on, then escalate."""
    if child is None:
        return
    for s in (None, sig, signal.SIGTERM, signal.SIGKILL):
        if child.poll() is not None:
            return
        try:
            if s is not None:
                child.send_signal(s)
            child.wait(timeout=CHILD_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue  # another Ctrl-C: escalate right away


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kube_addons.devcluster",
        description="A local real Kubernetes control plane for tests.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find cached) binaries; print the bin dir")
    for name, help_ in (
        ("up", "start a detached cluster"),
        ("down", "stop it"),
        ("env", "print exports for the running cluster"),
    ):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--dir", help=f"state dir (default ${DIR_ENV} or ./{DEFAULT_DIR})")
    rp = sub.add_parser("run", help="run CMD against a fresh cluster: run -- CMD ARGS...")
    rp.add_argument("cmd", nargs=argparse.REMAINDER)
    sp = sub.add_parser(SUPERVISE_CMD)  # internal: the detached owner of an 'up' cluster
    sp.add_argument("--dir", required=True)
    sp.add_argument("--bin-dir", required=True)
    return p


COMMANDS = {
    "build": cmd_build,
    "up": cmd_up,
    "down": cmd_down,
    "env": cmd_env,
    "run": cmd_run,
    SUPERVISE_CMD: cmd_supervise,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except build.BuildError as exc:
        log(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
