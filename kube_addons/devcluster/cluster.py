"""A real, local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

Everything listens on 127.0.0.1 on random free ports; all state lives in one work dir.
There is no scheduler and no kubelet (Pods stay Pending).

Process hygiene: each component runs in its own session/process group and gets
``PR_SET_PDEATHSIG=SIGKILL``, so it dies with the Python process even on ``kill -9``.
Linux delivers that signal when the *thread* that forked the child exits, so call
``start()``, ``start_apiserver()`` and ``ensure_controller_manager()`` from a thread that
lives as long as the cluster (normally the main thread).
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import Callable, TypeVar

from kube_addons.devcluster import build, keys

T = TypeVar("T")

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"
KCM_LEASE_PATH = (
    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"
)
DEFAULT_SA_PATH = "/api/v1/namespaces/kube-system/serviceaccounts/default"
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
LOG_TAIL = 30
POLL = 0.2
PR_SET_PDEATHSIG = 1
TEMP_PREFIX = "kube-addons-cp-"
OWNER_FILE = "owner.json"


class ClusterError(RuntimeError):
    """Start/readiness failure; the message carries the failing component's log tail."""


# ---------------------------------------------------------------------------------------
# Pure helpers (argv / file contents)
# ---------------------------------------------------------------------------------------


class Layout:
    """Where each piece of state lives inside the work dir."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.etcd_data = workdir / "etcd"
        self.pki = workdir / "pki"
        self.cert_dir = self.pki / "serving"  # apiserver writes apiserver.crt/.key here
        self.ca_file = self.cert_dir / "apiserver.crt"
        self.sa_key = self.pki / "sa.key"
        self.sa_pub = self.pki / "sa.pub"
        self.token_file = self.pki / "tokens.csv"
        self.logs = workdir / "logs"
        self.kubeconfig = workdir / "kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


def etcd_argv(bin_dir: Path, layout: Layout, client_port: int, peer_port: int) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(bin_dir / "etcd"),
        "--name=default",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # A throwaway test store: skipping fsync makes writes cheap on slow disks.
        "--unsafe-no-fsync=true",
    ]


def apiserver_argv(bin_dir: Path, layout: Layout, etcd_port: int, port: int) -> list[str]:
    return [
        str(bin_dir / "kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={layout.cert_dir}",
        f"--token-auth-file={layout.token_file}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={layout.sa_pub}",
        f"--service-account-signing-key-file={layout.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        # A loopback advertise address is refused by the default endpoint reconciler.
        "--endpoint-reconciler-type=none",
        # Bounds the HTTP shutdown to 2 s; otherwise open watches (the KCM's) hold a
        # SIGTERM'd apiserver for the 60 s ShutdownTimeout.
        "--shutdown-send-retry-after=true",
    ]


def controller_manager_argv(bin_dir: Path, layout: Layout) -> list[str]:
    return [
        str(bin_dir / "kube-controller-manager"),
        f"--kubeconfig={layout.kubeconfig}",
        # Elect through the real Lease kube-system/kube-controller-manager, as in a cluster.
        "--leader-elect=true",
        f"--service-account-private-key-file={layout.sa_key}",
        f"--root-ca-file={layout.ca_file}",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--controllers=*",
    ]


def token_file_line(token: str) -> str:
    return f"{token},admin,admin,system:masters\n"


def kubeconfig_dict(server: str, token: str, ca_file: Path | str) -> dict:
    # JSON is valid YAML: kubectl reads it, and no YAML library is needed here.
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "devcluster",
                "cluster": {"server": server, "certificate-authority": str(ca_file)},
            }
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [
            {
                "name": "devcluster",
                "context": {"cluster": "devcluster", "user": "admin", "namespace": "default"},
            }
        ],
        "current-context": "devcluster",
    }


def free_ports(count: int) -> list[int]:
    """Ports the kernel reports free on 127.0.0.1 (held together so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: with the pid, identifies a process across pid reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def write_owner(workdir: Path) -> None:
    owner = {"pid": os.getpid(), "start": process_start_time(os.getpid())}
    (workdir / OWNER_FILE).write_text(json.dumps(owner))


def owner_alive(workdir: Path) -> bool:
    try:
        owner = json.loads((workdir / OWNER_FILE).read_text())
        return process_start_time(int(owner["pid"])) == owner["start"]
    except (OSError, ValueError, KeyError, TypeError):
        return True  # unknown: leave it alone


def reap_stale_workdirs(tmp: Path | None = None) -> list[Path]:
    """Remove temp work dirs whose owner was SIGKILLed (no chance to clean up; the etcd WAL
    alone is 64 MB). Only dirs with our prefix and an owner file naming a dead process."""
    removed = []
    for d in Path(tmp or tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        if d.is_dir() and (d / OWNER_FILE).exists() and not owner_alive(d):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def tail_file(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError as exc:
        return f"(no log: {exc})"


# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------


def _load_prctl() -> Callable[..., int] | None:
    # Resolved before fork: loading a library in the forked child is not async-signal-safe.
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()


def death_signal_preexec(parent_pid: int, sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A preexec_fn: the child gets ``sig`` when the forking thread of ``parent_pid`` dies."""
    prctl = _PRCTL

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        # The parent may have died between fork and prctl: then no signal would come.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


class Component:
    """One control-plane process, logging to its own file."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.frozen = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logf:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            logf.write(f"=== {stamp} starting: {' '.join(self.argv)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: signals reach only it
                preexec_fn=death_signal_preexec(os.getpid()),  # noqa: PLW1509 (see module doc)
                close_fds=True,
            )
        self.frozen = False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        # Only while not reaped: after wait() the pgid may belong to someone else.
        if self.running():
            assert self.proc is not None
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def freeze(self) -> None:
        self.signal_group(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.signal_group(signal.SIGCONT)
        self.frozen = False

    def terminate(self) -> None:
        if self.frozen:
            self.thaw()  # a stopped process would not act on SIGTERM
        self.signal_group(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill_now(self) -> None:
        self.signal_group(signal.SIGCONT)
        self.signal_group(signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def stop(self, grace: float = STOP_GRACE) -> None:
        self.terminate()
        self.wait_or_kill(time.monotonic() + grace)

    def describe_exit(self) -> str:
        code = self.proc.returncode if self.proc else None
        return f"{self.name} exited with code {code}"

    def tail(self, lines: int = LOG_TAIL) -> str:
        return tail_file(self.log_path, lines)


# ---------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------


class Cluster:
    """etcd + kube-apiserver + kube-controller-manager on 127.0.0.1.

    ``Cluster(bin_dir=None, workdir=None)``: bin_dir defaults to ``ensure_binaries()``;
    workdir defaults to a temp dir removed by ``stop()`` (a given workdir must be empty
    or absent and is kept, logs included).
    """

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        workdir: Path | str | None = None,
        *,
        start_timeout: float = 180.0,
        quiet: bool = False,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else build.ensure_binaries()
        missing = build.missing_binaries(self.bin_dir)
        if missing:
            raise ClusterError(f"{self.bin_dir} lacks {', '.join(missing)}")
        self._given_workdir = Path(workdir).resolve() if workdir is not None else None
        self.workdir: Path = self._given_workdir or Path("/nonexistent")
        self.start_timeout = start_timeout
        self.quiet = quiet
        self.hostname = socket.gethostname()
        self.kubectl = str(self.bin_dir / "kubectl")
        self.token = secrets.token_hex(24)
        self.kubeconfig = ""
        self.server = ""
        self._layout: Layout | None = None
        self._etcd: Component | None = None
        self._apiserver: Component | None = None
        self._kcm: Component | None = None
        self._ssl: ssl.SSLContext | None = None
        self._kcm_holder: str | None = None
        self._lock = threading.RLock()
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Cluster:  # noqa: PYI034
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Cluster:
        """Start all components; return once /readyz, the KCM Lease and SA default exist."""
        with self._lock:
            if self._started:
                raise ClusterError("cluster already started")
            self._started = True
        if threading.current_thread() is not threading.main_thread():
            self._log("warning: started off the main thread; components get SIGKILL when it ends")
        began = time.monotonic()
        deadline = began + self.start_timeout
        atexit.register(self.stop)
        try:
            self._prepare()
            self._start_etcd(deadline)
            self._start_apiserver(deadline)
            self._write_kubeconfig()
            self._start_controller_manager(deadline)
        except BaseException:
            # Includes KeyboardInterrupt: nothing started may outlive a failed start.
            self.stop()
            raise
        self._log(f"control plane ready in {time.monotonic() - began:.1f} s at {self.server}")
        return self

    def stop(self) -> None:
        """Stop everything (SIGTERM, SIGKILL after a few seconds). Idempotent."""
        with self._lock:
            comps = [c for c in (self._kcm, self._apiserver, self._etcd) if c is not None]
            try:
                # KCM and apiserver first (together), etcd last so the apiserver can drain.
                for c in comps[:-1]:
                    c.terminate()
                deadline = time.monotonic() + STOP_GRACE
                for c in comps[:-1]:
                    c.wait_or_kill(deadline)
                if comps:
                    comps[-1].stop()
            except BaseException:
                for c in comps:  # interrupted while stopping: no more grace
                    c.kill_now()
                raise
            finally:
                atexit.unregister(self.stop)
            if self._given_workdir is None and self._layout is not None:
                shutil.rmtree(self._layout.workdir, ignore_errors=True)
                self._layout = None

    # -- apiserver disruption (for tests) ----------------------------------------------

    def stop_apiserver(self) -> None:
        with self._lock:
            self._require_started()
            assert self._apiserver is not None
            self._apiserver.stop()

    def start_apiserver(self, timeout: float = 90.0) -> None:
        """Restart a stopped apiserver (same port, cert and data); wait until ready."""
        with self._lock:
            self._require_started()
            assert self._apiserver is not None
            deadline = time.monotonic() + timeout
            if not self._apiserver.running():
                self._apiserver.start()
            self._wait_apiserver_ready(deadline)
            self.ensure_controller_manager(timeout=max(1.0, deadline - time.monotonic()))

    def freeze_apiserver(self) -> None:
        """SIGSTOP the apiserver: connections hang instead of being refused."""
        with self._lock:
            self._require_started()
            assert self._apiserver is not None
            self._apiserver.freeze()

    def thaw_apiserver(self, timeout: float = 60.0) -> None:
        """SIGCONT the apiserver and wait until it serves again."""
        with self._lock:
            self._require_started()
            assert self._apiserver is not None
            deadline = time.monotonic() + timeout
            self._apiserver.thaw()
            self._wait_apiserver_ready(deadline)
            self.ensure_controller_manager(timeout=max(1.0, deadline - time.monotonic()))

    def ensure_controller_manager(self, timeout: float = 60.0) -> bool:
        """Restart the KCM if it exited (it exits when it cannot renew its Lease for 10 s,
        e.g. after a long apiserver outage) and wait until it leads again. True if it did."""
        with self._lock:
            self._require_started()
            assert self._kcm is not None
            if self._kcm.running():
                return False
            self._log(f"{self._kcm.describe_exit()}; restarting it")
            self._start_controller_manager(time.monotonic() + timeout, previous=self._kcm_holder)
            return True

    # -- access --------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return dict(os.environ, KUBECONFIG=self.kubeconfig)

    def pids(self) -> dict[str, int]:
        comps = {
            "etcd": self._etcd,
            "kube-apiserver": self._apiserver,
            "kube-controller-manager": self._kcm,
        }
        return {n: c.pid for n, c in comps.items() if c is not None and c.running() and c.pid}

    def api_get(self, path: str, timeout: float = 10.0) -> str:
        """GET a path on the apiserver as admin; raise ClusterError unless 200."""
        status, body = self._get(path, timeout)
        if status != 200:
            raise ClusterError(f"GET {path}: HTTP {status}: {body[:500]}")
        return body

    def apiserver_metrics(self) -> str:
        return self.api_get("/metrics")

    def log_path(self, component: str) -> Path:
        assert self._layout is not None
        return self._layout.log(component)

    # -- internals -------------------------------------------------------------------------

    def _log(self, message: str) -> None:
        if not self.quiet:
            print(f"[devcluster] {message}", file=sys.stderr, flush=True)

    def _require_started(self) -> None:
        if not self._started or self._apiserver is None:
            raise ClusterError("cluster is not started")

    def _prepare(self) -> None:
        if self._given_workdir is not None:
            workdir = self._given_workdir
            if workdir.exists() and any(workdir.iterdir()):
                raise ClusterError(f"work dir {workdir} is not empty")
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            reap_stale_workdirs()
            workdir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
            write_owner(workdir)
        self.workdir = workdir
        layout = self._layout = Layout(workdir)
        for d in (layout.pki, layout.cert_dir, layout.logs):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(layout.pki, 0o700)
        keys.generate_key_pair(layout.sa_key, layout.sa_pub)
        fd = os.open(layout.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token_file_line(self.token))
        self._etcd_port, self._peer_port, self._port = free_ports(3)
        self.server = f"https://127.0.0.1:{self._port}"
        self.kubeconfig = str(layout.kubeconfig)

    def _start_etcd(self, deadline: float) -> None:
        layout = self._layout
        assert layout is not None
        self._etcd = Component(
            "etcd",
            etcd_argv(self.bin_dir, layout, self._etcd_port, self._peer_port),
            layout.log("etcd"),
        )
        self._etcd.start()
        url = f"http://127.0.0.1:{self._etcd_port}/health"

        def healthy() -> bool:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read()).get("health") == "true"

        self._wait("etcd /health", healthy, deadline, self._etcd)

    def _start_apiserver(self, deadline: float) -> None:
        layout = self._layout
        assert layout is not None
        argv = apiserver_argv(self.bin_dir, layout, self._etcd_port, self._port)
        self._apiserver = Component("kube-apiserver", argv, layout.log("kube-apiserver"))
        self._apiserver.start()
        self._wait_apiserver_ready(deadline)

    def _wait_apiserver_ready(self, deadline: float) -> None:
        assert self._apiserver is not None

        def ready() -> bool:
            status, body = self._get("/readyz", timeout=2)
            if status != 200:
                raise ClusterError(f"/readyz HTTP {status}: {body.strip()[-300:]}")
            return body.strip() == "ok"

        self._wait("kube-apiserver /readyz", ready, deadline, self._apiserver)

    def _write_kubeconfig(self) -> None:
        layout = self._layout
        assert layout is not None
        data = kubeconfig_dict(self.server, self.token, layout.ca_file)
        tmp = layout.kubeconfig.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, layout.kubeconfig)

    def _start_controller_manager(self, deadline: float, previous: str | None = None) -> None:
        layout = self._layout
        assert layout is not None
        argv = controller_manager_argv(self.bin_dir, layout)
        self._kcm = Component(
            "kube-controller-manager", argv, layout.log("kube-controller-manager")
        )
        self._kcm.start()

        def leads() -> str | None:
            status, body = self._get(KCM_LEASE_PATH, timeout=2)
            if status == 404:
                return None
            if status != 200:
                raise ClusterError(f"Lease GET HTTP {status}")
            holder = (json.loads(body).get("spec") or {}).get("holderIdentity") or ""
            # After a restart the dead instance's holder stays until the Lease expires.
            return holder if holder and holder != previous else None

        self._kcm_holder = self._wait(
            "kube-controller-manager Lease holder", leads, deadline, self._kcm
        )

        def default_sa() -> bool:
            status, _ = self._get(DEFAULT_SA_PATH, timeout=2)
            return status == 200

        self._wait("ServiceAccount kube-system/default", default_sa, deadline, self._kcm)

    def _wait(self, what: str, check: Callable[[], T], deadline: float, comp: Component) -> T:
        last: BaseException | str = "not ready"
        while True:
            if not comp.running():
                raise ClusterError(
                    f"{comp.describe_exit()} while waiting for {what}\n"
                    f"--- last lines of {comp.log_path} ---\n{comp.tail()}"
                )
            try:
                result = check()
                if result:
                    return result
            except (OSError, ValueError, ClusterError, http.client.HTTPException) as exc:
                last = exc
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"timed out waiting for {what} (last: {last})\n"
                    f"--- last lines of {comp.log_path} ---\n{comp.tail()}"
                )
            time.sleep(POLL)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            assert self._layout is not None
            if not self._layout.ca_file.exists():
                raise ClusterError("serving certificate not written yet")
            ctx = ssl.create_default_context(cafile=str(self._layout.ca_file))
            # Python 3.13 turns on strict X.509 checks that the apiserver's self-signed
            # certificate was never meant to pass; the CA pin is what matters here.
            ctx.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
            self._ssl = ctx
        return self._ssl

    def _get(self, path: str, timeout: float) -> tuple[int, str]:
        req = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl_context()) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
