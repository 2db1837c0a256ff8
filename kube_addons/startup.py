"""What happens once before the loop: banner, service-account wait, admission controls.

Which wait and which apply rule run is decided by the profile (`sa_wait`,
`admission_label_aware`, `namespace_bootstrap`); each variant is a function here.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import threading
from typing import Callable, Iterator, Optional

from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log, timestamp
from kube_addons.manager import Manager
from kube_addons.output import ALREADY_EXISTS
from kube_addons.profiles import MODE_LABEL, SA_EXISTS, SA_TOKEN, SYSTEM_NAMESPACE

ADMISSION_NAMESPACE = "default"
ADMISSION_PATTERNS = ("*.yaml", "*.json")
BOOTSTRAP_TRIES = 100
BOOTSTRAP_DELAY = 10.0
SA_RETRY_DELAY = 0.5
SA_RETRY_WARNING = "== Error getting default service account, retry in 0.5 second =="
# v8.6 waited for the name of the default ServiceAccount's first token secret.
TOKEN_TEMPLATE = "go-template={{with index .secrets 0}}{{.name}}{{end}}"
# Servers from this release on mint no token secrets for ServiceAccounts.
TOKENLESS_SINCE = (1, 24)


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
        label_aware: bool = True,
    ) -> None:
        self.kubectl = kubectl
        self.log = log
        self.stop = stop
        self.tries = tries
        self.delay = delay
        self.label_aware = label_aware

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

    def apply_step(self, text: str, name: str, namespace: str) -> bool:
        """Before v9.1.2: one apply whatever the labels say, namespace option first."""
        result = self.kubectl.run(
            f"--namespace={namespace}", "apply", "-f", "-", stdin=text, merge=True
        )
        # Upstream did not capture this call: kubectl's own lines land in the log as is.
        self.log.write(result.stdout)
        if result.ok:
            self.log.info(
                f"== Successfully started {name} in namespace {namespace} at {timestamp()}"
            )
        return result.ok

    def attempt(self, text: str, name: str, namespace: str) -> bool:
        if not self.label_aware:
            return self.apply_step(text, name, namespace)
        return self.reconcile_step(text, name, namespace) and self.ensure_step(
            text, name, namespace
        )

    def run(self, path: str, namespace: str) -> bool:
        text = read_manifest_text(path, self.log)
        tries = self.tries
        while tries > 0 and not self.stop.is_set():
            if self.attempt(text, path, namespace):
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
        log.warn(SA_RETRY_WARNING)
        stop.wait(SA_RETRY_DELAY)
    return False


def token_argv() -> tuple[str, ...]:
    return (
        "get", f"--namespace={SYSTEM_NAMESPACE}", "serviceaccount", "default", "-o", TOKEN_TEMPLATE
    )


def parse_server_version(text: str) -> Optional[tuple[int, int]]:
    """major/minor of the API server's /version document ("minor" may read "27+")."""
    try:
        info = json.loads(text)
        return int(re.sub(r"\D", "", info["major"])), int(re.sub(r"\D", "", info["minor"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class TokenlessCheck:
    """Does the server mint no token secrets, while the default ServiceAccount exists?

    Asked only after the token query came back without a token; the server's version is
    read once (until a read succeeds).
    """

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl
        self.version: Optional[tuple[int, int]] = None

    def server_mints_no_tokens(self) -> bool:
        if self.version is None:
            result = self.kubectl.run("get", "--raw", "/version")
            self.version = parse_server_version(result.stdout) if result.ok else None
        return self.version is not None and self.version >= TOKENLESS_SINCE

    def account_exists(self) -> bool:
        return self.kubectl.run(
            "get", f"--namespace={SYSTEM_NAMESPACE}", "serviceaccount", "default", "-o", "name"
        ).ok

    def __call__(self) -> bool:
        return self.server_mints_no_tokens() and self.account_exists()


def wait_for_token(kubectl: Kubectl, log: Log, stop: threading.Event) -> bool:
    """Before v9.1.6: wait until the default ServiceAccount has a token secret.

    Upstream sleeps before every attempt, warns only when kubectl fails, and retries an
    empty answer silently. On servers >= 1.24 the token never comes and upstream waits
    forever (#108313): there, the ServiceAccount's existence is accepted instead.
    """
    tokenless = TokenlessCheck(kubectl)
    while not stop.wait(SA_RETRY_DELAY):
        result = kubectl.run(*token_argv())
        token = result.stdout.rstrip("\n")
        if result.ok and token:
            log.info(
                f"== Default service account in the {SYSTEM_NAMESPACE} namespace has token "
                f"{token} =="
            )
            return True
        if tokenless():
            log.info(
                f"== Default service account in the {SYSTEM_NAMESPACE} namespace exists; "
                "this server creates no token secrets (Kubernetes >= 1.24), going on =="
            )
            return True
        if not result.ok:
            log.write(result.stderr, stderr=True)
            log.warn(SA_RETRY_WARNING)
    return False


# sa_wait -> the wait
SA_WAITS: dict[str, Callable[[Kubectl, Log, threading.Event], bool]] = {
    SA_EXISTS: wait_for_service_account,
    SA_TOKEN: wait_for_token,
}


def start_namespace_bootstrap(manager: Manager) -> list[threading.Thread]:
    """v8.6: apply the namespace file in the background, never waited for."""
    namespace = manager.config.profile.namespace_bootstrap
    if namespace is None:
        return []
    bootstrap = Bootstrap(manager.kubectl, manager.log, manager.stop, label_aware=False)
    path = manager.config.namespace_file
    thread = threading.Thread(
        target=bootstrap.run, args=(path, namespace), name=f"bootstrap:{path}", daemon=True
    )
    thread.start()
    return [thread]


def start_admission_controls(
    manager: Manager, bootstrap: Optional[Bootstrap] = None
) -> list[threading.Thread]:
    """One background job per file, concurrent with the loop and never waited for."""
    bootstrap = bootstrap or Bootstrap(
        manager.kubectl,
        manager.log,
        manager.stop,
        label_aware=manager.config.profile.admission_label_aware,
    )
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
    threads = start_namespace_bootstrap(manager)
    if not SA_WAITS[cfg.profile.sa_wait](manager.kubectl, log, manager.stop):
        return threads
    threads += start_admission_controls(manager)
    log.info(f"== Entering periodical apply loop at {timestamp()} ==")
    return threads
