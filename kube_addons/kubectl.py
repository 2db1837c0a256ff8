"""The one door to kubectl: argv, stdin, timeout, capture, one error type.

Nothing else in kube-addons starts a process. Every call gets a timeout that kills
kubectl's whole process group (kubectl has none by default and can hang on a server
that accepts connections and never answers), and a stop request ends running calls.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import sh

TIMEOUT_EXIT = 124  # what coreutils' timeout(1) reports, for familiarity
NOT_FOUND_EXIT = 127

ALLOWLIST_FLAG = "--prune-allowlist"
WHITELIST_FLAG = "--prune-whitelist"
# kubectl 1.26 added --prune-allowlist; 1.30 removed --prune-whitelist.
ALLOWLIST_SINCE = (1, 26)


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str = ""
    duration: float = 0.0
    timed_out: bool = False
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def verb(self) -> str:
        """The kubectl subcommand (first word that is not an option), for logs and metrics."""
        for word in self.argv[1:]:
            if not word.startswith("-") and word in KNOWN_VERBS:
                return word
        return "other"


KNOWN_VERBS = frozenset(
    "apply create get delete label annotate patch replace version diff api-resources"
    " api-versions auth wait edit".split()
)


def _indent(text: str) -> str:
    if not text.strip():
        return "    (none)"
    return "\n".join("    " + line for line in text.rstrip("\n").split("\n"))


class KubectlError(Exception):
    """A kubectl call failed; carries the whole result."""

    def __init__(self, result: Result, reason: str = "") -> None:
        self.result = result
        self.reason = reason or (
            "timed out" if result.timed_out else f"exit code {result.exit_code}"
        )
        super().__init__(self._text())

    def _text(self) -> str:
        return (
            f"kubectl failed ({self.reason}): {' '.join(self.result.argv)}\n"
            f"  stdout:\n{_indent(self.result.stdout)}\n"
            f"  stderr:\n{_indent(self.result.stderr)}"
        )


def parse_version(text: str) -> Optional[tuple[int, int]]:
    """Client version from `kubectl version --client -o json`, or the plain text forms."""
    try:
        info = json.loads(text).get("clientVersion", {})
        major = int(re.sub(r"\D", "", str(info.get("major", ""))) or -1)
        minor = int(re.sub(r"\D", "", str(info.get("minor", ""))) or -1)
        if major >= 0 and minor >= 0:
            return major, minor
        match = re.match(r"v(\d+)\.(\d+)", str(info.get("gitVersion", "")))
        if match:
            return int(match.group(1)), int(match.group(2))
    except (ValueError, AttributeError):
        pass
    match = re.search(r"Client Version: v(\d+)\.(\d+)", text)
    if match:
        return int(match.group(1)), int(match.group(2))
    match = re.search(r'Major:"(\d+)", Minor:"(\d+)', text)
    if match:
        return int(match.group(1)), int(match.group(2))
    return None


def prune_flag_for(version: Optional[tuple[int, int]]) -> str:
    if version is not None and version < ALLOWLIST_SINCE:
        return WHITELIST_FLAG
    return ALLOWLIST_FLAG


class Kubectl:
    def __init__(
        self,
        binary: str,
        opts: Sequence[str] = (),
        timeout: float = 120.0,
        env: Optional[dict[str, str]] = None,
        on_result: Optional[Callable[[Result], None]] = None,
        extra_env: Optional[dict[str, str]] = None,
    ) -> None:
        if extra_env:
            # The child's environment: ours plus these (e.g. KUBECACHEDIR).
            env = {**(env if env is not None else os.environ), **extra_env}
        self.binary = binary
        self.opts = tuple(opts)
        self.timeout = timeout
        self.env = env
        self.on_result = on_result
        self._stop = threading.Event()
        self._running: dict[int, object] = {}
        self._lock = threading.Lock()
        self._version: Optional[tuple[int, int]] = None
        self._version_known = False

    def argv(self, *args: str) -> tuple[str, ...]:
        return (self.binary, *self.opts, *args)

    def run(
        self,
        *args: str,
        stdin: Optional[str] = None,
        merge: bool = False,
        timeout: Optional[float] = None,
        check: bool = False,
    ) -> Result:
        argv = self.argv(*args)
        result = self._execute(argv, stdin, merge, timeout or self.timeout)
        if self.on_result is not None:
            self.on_result(result)
        if check and not result.ok:
            raise KubectlError(result)
        return result

    def _execute(
        self, argv: tuple[str, ...], stdin: Optional[str], merge: bool, timeout: float
    ) -> Result:
        start = time.monotonic()
        if self._stop.is_set():
            return Result(argv, 1, "", "", 0.0, stopped=True)
        kwargs: dict = dict(
            _bg=True,
            _bg_exc=False,
            _new_session=True,  # own process group, so a timeout kills kubectl's children too
            _tty_out=False,
            _tty_in=False,
            _ok_code=list(range(256)),
            _return_cmd=True,
            _err_to_out=merge,
            _decode_errors="replace",
        )
        if stdin is not None:
            kwargs["_in"] = stdin
        if self.env is not None:
            kwargs["_env"] = self.env
        try:
            proc = sh.Command(argv[0])(*argv[1:], **kwargs)
        except (sh.CommandNotFound, sh.ForkException, OSError) as exc:
            return Result(argv, NOT_FOUND_EXIT, "", f"{argv[0]}: {exc}\n", time.monotonic() - start)
        with self._lock:
            self._running[id(proc)] = proc
        timed_out = stopped = False
        deadline = start + timeout
        done = threading.Event()

        def waiter() -> None:
            try:
                proc.process.wait()  # reaps kubectl and joins the output readers
            finally:
                done.set()

        threading.Thread(target=waiter, name="kubectl-wait", daemon=True).start()
        try:
            while not done.wait(0.05):
                if self._stop.is_set():
                    stopped = True
                elif time.monotonic() >= deadline:
                    timed_out = True
                else:
                    continue
                self._kill(proc)
                done.wait()
        finally:
            with self._lock:
                self._running.pop(id(proc), None)
        exit_code = proc.process.exit_code if proc.process.exit_code is not None else 1
        stopped = stopped or (exit_code < 0 and self._stop.is_set())
        if timed_out:
            exit_code = TIMEOUT_EXIT
        elif exit_code < 0:
            exit_code = 128 - exit_code
        return Result(
            argv,
            exit_code,
            _decode(proc.process.stdout),
            "" if merge else _decode(proc.process.stderr),
            time.monotonic() - start,
            timed_out=timed_out,
            stopped=stopped,
        )

    @staticmethod
    def _kill(proc) -> None:
        try:
            proc.process.kill_group()
        except (ProcessLookupError, OSError):
            pass

    def stop(self) -> None:
        """End every running call now and refuse new ones (shutdown)."""
        self._stop.set()
        with self._lock:
            running = list(self._running.values())
        for proc in running:
            self._kill(proc)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def client_version(self) -> Optional[tuple[int, int]]:
        """Detected once; None when kubectl will not say (then the newest flags are used)."""
        if not self._version_known:
            result = self.run("version", "--client", "-o", "json", timeout=30)
            text = result.stdout
            if not result.ok or parse_version(text) is None:
                text = self.run("version", "--client", timeout=30).stdout
            self._version = parse_version(text)
            self._version_known = True
        return self._version

    def prune_flag(self) -> str:
        return prune_flag_for(self.client_version())


def _decode(data) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)
