"""What happens once before the loop: banner, service-account wait, admission controls."""
from __future__ import annotations

import fnmatch
import os
import threading
from typing import Iterator, Optional

from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log, timestamp
from kube_addons.manager import Manager
from kube_addons.output import ALREADY_EXISTS
from kube_addons.profiles import MODE_LABEL, SA_EXISTS, SYSTEM_NAMESPACE

ADMISSION_NAMESPACE = "default"
ADMISSION_PATTERNS = ("*.yaml", "*.json")
BOOTSTRAP_TRIES = 100
BOOTSTRAP_DELAY = 10.0
SA_RETRY_DELAY = 0.5


def _find(path: str, errors: list[str]) -> Iterator[str]:
    """find(1)'s pre-order walk: an entry, then (for a directory) its contents, in
    directory order, without following symlinked directories."""
    yield path
    if os.path.islink(path) or not os.path.isdir(path):
        return
    try:
        entries = list(os.scandir(path))
    except OSError as exc:
        errors.append(f"find: '{path}': {exc.strerror}")
        return
    for entry in entries:
        yield from _find(os.path.join(path, entry.name), errors)


def find_admission_files(root: str, log: Log) -> list[str]:
    """Paths named *.yaml or *.json below root, as upstream's `find` lists them."""
    if not os.path.lexists(root):
        log.write(f"find: '{root}': No such file or directory\n", stderr=True)
        return []
    errors: list[str] = []
    found = [
        path
        for path in _find(root, errors)
        if any(fnmatch.fnmatchcase(os.path.basename(path), pat) for pat in ADMISSION_PATTERNS)
    ]
    log.lines(errors, stderr=True)
    return found


def read_manifest_text(path: str, log: Log) -> str:
    """`echo "$(cat FILE)"`: trailing newlines folded into one; unreadable means empty."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as exc:
        log.write(f"cat: {path}: {exc.strerror}\n", stderr=True)
        text = ""
    return text.rstrip("\n") + "\n"


class Bootstrap:
    """Applies one admission-control file with retries, in the background (v9.1.2+ rules)."""

    def __init__(
        self,
        kubectl: Kubectl,
        log: Log,
        stop: threading.Event,
        tries: int = BOOTSTRAP_TRIES,
        delay: float = BOOTSTRAP_DELAY,
    ) -> None:
        self.kubectl = kubectl
        self.log = log
        self.stop = stop
        self.tries = tries
        self.delay = delay

    def _echo(self, output: str) -> None:
        self.log.write(output.rstrip("\n") + "\n")

    def reconcile_step(self, text: str, name: str, namespace: str) -> bool:
        result = self.kubectl.run(
            "apply", "-f", "-", f"--namespace={namespace}", "-l", f"{MODE_LABEL}=Reconcile",
            stdin=text, merge=True,
        )
        if result.ok:
            self.log.info(
                f"== Successfully reconciled {name} in namespace {namespace} at {timestamp()}"
            )
            return True
        if "no objects" in result.stdout:
            return True
        self._echo(result.stdout)
        return False

    def ensure_step(self, text: str, name: str, namespace: str) -> bool:
        result = self.kubectl.run(
            "create", "-f", "-", f"--namespace={namespace}", "-l", f"{MODE_LABEL}=EnsureExists",
            stdin=text, merge=True,
        )
        if result.ok:
            self.log.info(
                f"== Successfully started {name} in namespace {namespace} at {timestamp()}"
            )
            return True
        if ALREADY_EXISTS in result.stdout:
            self.log.info(
                f"== Skipping start {name} in namespace {namespace}, "
                f"already exists at {timestamp()}"
            )
            return True
        if "no objects" in result.stdout:
            return True
        self._echo(result.stdout)
        return False

    def run(self, path: str, namespace: str) -> bool:
        text = read_manifest_text(path, self.log)
        tries = self.tries
        while tries > 0 and not self.stop.is_set():
            if self.reconcile_step(text, path, namespace) and self.ensure_step(
                text, path, namespace
            ):
                return True
            if self.stop.is_set():
                return False
            tries -= 1
            self.log.warn(
                f"== Failed to start {path} in namespace {namespace} at {timestamp()}. "
                f"{tries} tries remaining. =="
            )
            self.stop.wait(self.delay)
        return False


def wait_for_service_account(kubectl: Kubectl, log: Log, stop: threading.Event) -> bool:
    """v9.1.6+: wait until kube-system/default exists; its table output reaches the log."""
    while not stop.is_set():
        result = kubectl.run("get", f"--namespace={SYSTEM_NAMESPACE}", "serviceaccount", "default")
        log.write(result.stdout)
        log.write(result.stderr, stderr=True)
        if result.ok:
            log.info(f"== Default service account in the {SYSTEM_NAMESPACE} namespace ==")
            return True
        if stop.is_set():
            break
        log.warn("== Error getting default service account, retry in 0.5 second ==")
        stop.wait(SA_RETRY_DELAY)
    return False


def start_admission_controls(
    manager: Manager, bootstrap: Optional[Bootstrap] = None
) -> list[threading.Thread]:
    """One background job per file, concurrent with the loop and never waited for."""
    bootstrap = bootstrap or Bootstrap(manager.kubectl, manager.log, manager.stop)
    threads = []
    for path in find_admission_files(manager.config.admission_dir, manager.log):
        thread = threading.Thread(
            target=bootstrap.run,
            args=(path, ADMISSION_NAMESPACE),
            name=f"admission:{path}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
        manager.log.info(f"++ obj {path} is created ++")
    return threads


def startup(manager: Manager) -> list[threading.Thread]:
    """Everything before the first pass, in upstream's order. False-y stop aborts early."""
    cfg = manager.config
    log = manager.log
    manager.log_prune_flags()
    log.info(
        f"== Kubernetes addon manager started at {timestamp()} "
        f"with ADDON_CHECK_INTERVAL_SEC={cfg.interval_text} =="
    )
    for warning in cfg.warnings:
        log.warn(warning)
    if cfg.profile.sa_wait != SA_EXISTS:
        raise NotImplementedError(cfg.profile.sa_wait)
    if not wait_for_service_account(manager.kubectl, log, manager.stop):
        return []
    threads = start_admission_controls(manager)
    log.info(f"== Entering periodical apply loop at {timestamp()} ==")
    return threads
