"""One pass (leader check, ensure, reconcile) and the periodic loop around it."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from kube_addons import leader
from kube_addons.config import LEADER_OFF, Config
from kube_addons.kubectl import Kubectl, Result
from kube_addons.logs import Log, timestamp
from kube_addons.output import (
    ALREADY_EXISTS,
    NO_OBJECTS,
    Tally,
    drop_containing,
    error_lines,
)
from kube_addons.profiles import DEPRECATED_SELECTOR, ENSURE_SELECTOR, RECONCILE_SELECTOR


@dataclass
class CallReport:
    name: str
    result: Result
    problems: list[str]

    @property
    def failed(self) -> bool:
        return bool(self.problems)


@dataclass
class PassReport:
    leader: bool = True
    calls: list[CallReport] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    started: float = 0.0
    finished: float = 0.0

    @property
    def failed(self) -> bool:
        return any(call.failed for call in self.calls)


def prune_flag_words(flag: str, allowlist: tuple[str, ...]) -> list[str]:
    """One flag per entry; blank entries are skipped (upstream #84228)."""
    words: list[str] = []
    for entry in allowlist:
        if entry.replace(" ", ""):
            words += [flag, entry]
    return words


def ensure_argv(addon_path: str) -> tuple[str, ...]:
    return ("create", "-f", addon_path, "-l", ENSURE_SELECTOR, "--recursive")


def reconcile_argv(addon_path: str, selector: str, prune_words: list[str]) -> tuple[str, ...]:
    return ("apply", "-f", addon_path, "-l", selector, "--prune=true", *prune_words, "--recursive")


def classify(result: Result, text: str, benign: tuple[str, ...]) -> list[str]:
    """What made a call fail; empty when it succeeded or failed only benignly."""
    if result.timed_out:
        return [f"kubectl timed out: {' '.join(result.argv)}"]
    if result.stopped:
        return []
    if result.ok:
        return []
    problems = error_lines(text, benign)
    if not problems and not any(marker in text for marker in benign):
        problems = [f"kubectl exited with code {result.exit_code}"]
    return problems


class Manager:
    def __init__(
        self,
        config: Config,
        kubectl: Kubectl,
        log: Log,
        stop: Optional[threading.Event] = None,
    ) -> None:
        self.config = config
        self.kubectl = kubectl
        self.log = log
        self.stop = stop or threading.Event()
        self._prune_words: Optional[list[str]] = None

    # -- prune flags -------------------------------------------------------------

    def prune_words(self) -> list[str]:
        if self._prune_words is None:
            allowlist = self.config.prune_allowlist
            flag = self.kubectl.prune_flag() if allowlist else ""
            self._prune_words = prune_flag_words(flag, allowlist)
        return self._prune_words

    def log_prune_flags(self) -> None:
        if not self.config.profile.log_prune_flags:
            return
        # Upstream builds the text with a trailing space, hence two spaces before "==".
        text = "".join(f"{word} " for word in self.prune_words())
        self.log.info(f"== Generated kubectl prune allowlist flags: {text} ==")

    # -- the pass ------------------------------------------------------------------

    def is_leader(self) -> bool:
        if self.config.leader_election == LEADER_OFF:
            self.log.info("Leader election disabled.")
            return True
        return leader.is_leader(self.config.profile, self.kubectl, self.log, self.config.hostname)

    def ensure(self) -> CallReport:
        """Create what is missing; AlreadyExists is the normal answer and is dropped."""
        result = self.kubectl.run(*ensure_argv(self.config.addon_path), merge=True)
        self.log.lines(drop_containing(result.stdout, ALREADY_EXISTS))
        self.log.info(f"== Kubernetes addon ensure completed at {timestamp()} ==")
        problems = classify(result, result.stdout, (ALREADY_EXISTS, NO_OBJECTS))
        return CallReport("ensure", result, problems)

    def reconcile(self) -> list[CallReport]:
        reports = []
        for name, title, selector in (
            ("reconcile-deprecated", "deprecated label", DEPRECATED_SELECTOR),
            ("reconcile", "addon-manager label", RECONCILE_SELECTOR),
        ):
            self.log.info(f"== Reconciling with {title} ==")
            argv = reconcile_argv(self.config.addon_path, selector, self.prune_words())
            result = self.kubectl.run(*argv)
            # Upstream pipes only stdout through `grep -v configured`; grep block-buffers
            # into the log file, so kubectl's stderr lands first.
            self.log.write(result.stderr, stderr=True)
            self.log.lines(drop_containing(result.stdout, "configured"))
            problems = classify(result, result.stderr + result.stdout, (NO_OBJECTS,))
            reports.append(CallReport(name, result, problems))
        self.log.info(f"== Kubernetes addon reconcile completed at {timestamp()} ==")
        return reports

    def run_pass(self, check_leader: bool = True) -> PassReport:
        report = PassReport(started=time.time())
        if check_leader and not self.is_leader():
            self.log.info("Not elected leader, going back to sleep.")
            report.leader = False
        else:
            report.calls.append(self.ensure())
            report.calls.extend(self.reconcile())
            for call in report.calls:
                report.tally.add_output(call.result.stdout)
                report.tally.errors += len(call.problems)
        report.finished = time.time()
        return report

    # -- the loop ------------------------------------------------------------------

    def sleep_after(self, start_sec: int) -> None:
        """Upstream reads the clock in whole seconds and sleeps what is left of the interval."""
        elapsed = int(time.time()) - start_sec
        if elapsed < self.config.interval:
            self.stop.wait(self.config.interval - elapsed)

    def loop(self, on_pass: Optional[Callable[[PassReport], None]] = None) -> None:
        while not self.stop.is_set():
            start_sec = int(time.time())
            report = self.run_pass()
            if on_pass is not None:
                on_pass(report)
            if self.stop.is_set():
                break
            self.sleep_after(start_sec)

