"""Build (once per machine) the control-plane binaries the local test cluster runs.

The binaries come from the Go module in ``go/`` (it pins k8s.io/kubernetes and etcd). They
are cached machine-wide, keyed by version, because a cold build takes minutes and CI runs in
fresh clones on the same machine.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Callable

DEFAULT_VERSION = "v1.37.2"
GO_DIR = Path(__file__).resolve().parent / "go"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
PACKAGES = (
    "k8s.io/kubernetes/cmd/kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-controller-manager",
    "k8s.io/kubernetes/cmd/kubectl",
    "go.etcd.io/etcd/server/v3",
)
# Both packages carry the version kubectl and the server report; unstamped module builds
# report "v0.0.0-master+$Format:%H$", which breaks any version-dependent logic.
VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
STAMP_NAME = ".build-stamp"
CACHE_ENV = "KUBE_ADDONS_CP_CACHE"
PROGRESS_INTERVAL = 10.0
TAIL_LINES = 40


class BuildError(RuntimeError):
    """A step of the build failed; the message names the step and shows Go's output tail."""

    def __init__(self, step: str, message: str, tail: Sequence[str] = ()) -> None:
        self.step = step
        self.tail = list(tail)
        text = f"control plane build failed at step '{step}': {message}"
        if self.tail:
            text += "\n--- last lines of output ---\n" + "\n".join(self.tail)
        super().__init__(text)


def log(message: str) -> None:
    print(f"[devcluster] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------


def parse_version(version: str) -> tuple[str, str]:
    """``v1.37.2`` -> (major, minor) as the strings the ldflags need."""
    m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?", version)
    if not m:
        raise ValueError(f"not a Kubernetes release version: {version!r}")
    return m.group(1), m.group(2)


def ldflags(version: str) -> str:
    """The exact -ldflags value; keep it stable so the Go build cache keeps hitting."""
    major, minor = parse_version(version)
    parts = ["-s", "-w"]
    for pkg in VERSION_PACKAGES:
        parts += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(parts)


def build_argv(version: str, out_dir: Path | str, verbose: bool = True) -> list[str]:
    argv = ["go", "build"]
    if verbose:
        argv.append("-v")  # one line per compiled package: our progress signal
    argv += ["-trimpath", "-ldflags", ldflags(version), "-o", f"{out_dir}{os.sep}"]
    argv += list(PACKAGES)
    return argv


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """Directory holding one ``<version>/bin`` per version."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base).expanduser() / "kube-addons" / "controlplane"


def bin_dir_for(version: str, environ: dict[str, str] | None = None) -> Path:
    return cache_root(environ) / version / "bin"


def pinned_version(go_mod_text: str) -> str | None:
    """The k8s.io/kubernetes version go.mod requires (None if it requires none)."""
    m = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\S+)", go_mod_text, re.MULTILINE)
    return m.group(1) if m else None


def stamp_for(version: str, go_mod: bytes, go_sum: bytes) -> str:
    """Identifies what a bin dir was built from; a mismatch forces a rebuild."""
    h = hashlib.sha256()
    for part in (version.encode(), ldflags(version).encode(), go_mod, go_sum):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def is_package_line(line: str) -> bool:
    """True for the import-path lines ``go build -v`` prints as it compiles packages."""
    line = line.strip()
    return bool(line) and not line.startswith("#") and " " not in line and ":" not in line


def progress_message(version: str, done: int, total: int) -> str:
    if total <= 0:
        return f"building control plane {version}: {done} packages compiled"
    done = min(done, total)
    return f"building control plane {version}: {done}/{total} packages ({done * 100 // total}%)"


def binaries_present(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in BINARIES)


def is_current(bin_dir: Path, stamp: str) -> bool:
    try:
        recorded = (bin_dir / STAMP_NAME).read_text().strip()
    except OSError:
        return False
    return recorded == stamp and binaries_present(bin_dir)


# ---------------------------------------------------------------------------------------
# Running go
# ---------------------------------------------------------------------------------------


def _go_executable() -> str:
    found = shutil.which("go")
    if not found and os.access("/usr/local/go/bin/go", os.X_OK):
        found = "/usr/local/go/bin/go"  # the official tarball's place, often not on PATH
    if not found:
        raise BuildError("toolchain", "the Go toolchain ('go') is not on PATH")
    return found


def _run_step(
    step: str,
    argv: list[str],
    cwd: Path,
    on_line: Callable[[str], None] | None = None,
    on_tick: Callable[[], None] | None = None,
) -> list[str]:
    """Run one go command, stream its merged output, return all lines; raise on failure."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildError(step, f"cannot run {argv[0]}: {exc}") from exc

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            tail.append(line)
            if on_line:
                on_line(line)

    # A thread reads so the main thread can print progress even while Go is silent
    # (linking the apiserver takes a while and prints nothing).
    thread = threading.Thread(target=reader, name=f"go-{step}", daemon=True)
    thread.start()
    try:
        while True:
            try:
                proc.wait(timeout=PROGRESS_INTERVAL)
                break
            except subprocess.TimeoutExpired:
                if on_tick:
                    on_tick()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    thread.join(timeout=10)
    if proc.returncode != 0:
        raise BuildError(step, f"{' '.join(argv[:3])} ... exited with {proc.returncode}", tail)
    return lines


def _verify(bin_dir: Path, version: str) -> None:
    argv = [str(bin_dir / "kubectl"), "version", "--client", "-o", "json"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout
        got = json.loads(out)["clientVersion"]["gitVersion"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        raise BuildError("verify", f"kubectl version failed: {exc}") from exc
    if got != version:
        raise BuildError("verify", f"built kubectl reports {got}, expected {version}")


def _install(tmp: Path, bin_dir: Path) -> None:
    """Swap the freshly built dir into place; a reader sees the old or the new dir whole."""
    old = None
    if bin_dir.exists():
        old = bin_dir.with_name(f"{bin_dir.name}.old-{os.getpid()}")
        os.rename(bin_dir, old)
    os.rename(tmp, bin_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _build(version: str, bin_dir: Path, stamp: str) -> None:
    go = _go_executable()
    started = time.monotonic()
    bin_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=bin_dir.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the cache is machine-wide
    try:
        log(f"building control plane {version} into {bin_dir} (a cold build takes 6-11 min)")
        log("downloading modules (go mod download)")
        _run_step("download", [go, "mod", "download"], GO_DIR)

        log("listing packages (go list -deps)")
        deps = _run_step("list", [go, "list", "-deps", *PACKAGES], GO_DIR)
        total = sum(1 for line in deps if is_package_line(line))

        compiled = [0]

        def on_line(line: str) -> None:
            if is_package_line(line):
                compiled[0] += 1

        argv = build_argv(version, tmp)
        argv[0] = go
        _run_step(
            "build",
            argv,
            GO_DIR,
            on_line,
            lambda: log(progress_message(version, compiled[0], total)),
        )
        _rename_etcd(tmp)
        _verify(tmp, version)
        try:
            (tmp / STAMP_NAME).write_text(stamp + "\n")
            _install(tmp, bin_dir)
        except OSError as exc:
            raise BuildError("stamp", f"cannot install binaries into {bin_dir}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"control plane {version} built in {time.monotonic() - started:.0f} s")


def _rename_etcd(out: Path) -> None:
    # go names the binary after the last path element of the main package: "v3" (or
    # "server" on some Go versions).
    for name in ("v3", "server"):
        if (out / name).exists():
            os.rename(out / name, out / "etcd")
            break
    missing = [b for b in BINARIES if not (out / b).exists()]
    if missing:
        raise BuildError("build", f"go build produced no {', '.join(missing)} in {out}")


class _FileLock:
    """flock so two processes (pytest-xdist workers, CI jobs) never build at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> _FileLock:  # noqa: PYI034
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another process is building the control plane; waiting ({self.path})")
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def ensure_binaries(version: str = DEFAULT_VERSION) -> Path:
    """Return a bin dir with etcd, kube-apiserver, kube-controller-manager and kubectl.

    A no-op (no Go invocation) when the cached binaries match go.mod/go.sum; otherwise
    builds them (minutes when the Go build cache is cold) and swaps them into place.
    """
    go_mod = (GO_DIR / "go.mod").read_bytes()
    go_sum = (GO_DIR / "go.sum").read_bytes()
    pinned = pinned_version(go_mod.decode(errors="replace"))
    if pinned != version:
        raise BuildError(
            "config", f"{GO_DIR / 'go.mod'} pins k8s.io/kubernetes {pinned}, not {version}"
        )
    stamp = stamp_for(version, go_mod, go_sum)
    bin_dir = bin_dir_for(version)
    if is_current(bin_dir, stamp):
        return bin_dir
    with _FileLock(bin_dir.parent / ".build.lock"):
        if not is_current(bin_dir, stamp):  # someone else may have built it meanwhile
            _build(version, bin_dir, stamp)
    return bin_dir


def missing_binaries(bin_dir: Path, names: Iterable[str] = BINARIES) -> list[str]:
    return [n for n in names if not os.access(Path(bin_dir) / n, os.X_OK)]
