"""One pass (leader check, ensure, reconcile) and the periodic loop around it."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kube_addons import leader, manifests, memory
from kube_addons.config import LEADER_LEASE, LEADER_OFF, Config
from kube_addons.guards import Decision, Plan
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
from kube_addons.fastpass import FastPass
from kube_addons.safety import Safety

# (report name, log title, selector, manifest class)
RECONCILE_CALLS = (
    ("reconcile-deprecated", "deprecated label", DEPRECATED_SELECTOR, manifests.DEPRECATED),
    ("reconcile", "addon-manager label", RECONCILE_SELECTOR, manifests.RECONCILE),
)


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
    decisions: list[Decision] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def failed(self) -> bool:
        return any(call.failed for call in self.calls)

    @property
    def held(self) -> int:
        """Guard decisions that held something back this pass."""
        return sum(1 for decision in self.decisions if decision.held)


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


def apply_argv(addon_path: str, selector: str) -> tuple[str, ...]:
    """Reconcile without pruning, for a class a guard holds back."""
    return ("apply", "-f", addon_path, "-l", selector, "--recursive")


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
        self.safety = Safety(config, kubectl, log)
        self.fast = FastPass(kubectl, self.safety)
        self.passes = 0
        # --watch sets it to start the next pass early; --leader-election=lease sets
        # election (a kube_addons.election.LeaseElector).
        self.wake = threading.Event()
        self.election: Optional[Any] = None

    # -- prune flags -------------------------------------------------------------

    def prune_words(self) -> list[str]:
        allowlist = self.safety.allowlist()
        flag = self.kubectl.prune_flag() if allowlist else ""
        return prune_flag_words(flag, allowlist)

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
        if self.config.leader_election == LEADER_LEASE and self.election is not None:
            return bool(self.election.check(self.log))
        return leader.is_leader(self.config.profile, self.kubectl, self.log, self.config.hostname)

    def _note_timeout(self, result: Result) -> None:
        if result.timed_out:
            self.log.error(
                f"== kubectl did not finish within {self.kubectl.timeout:g}s and was killed: "
                f"{' '.join(result.argv[1:])} =="
            )

    def ensure(self, known: Optional[Result] = None) -> CallReport:
        """Create what is missing; AlreadyExists is the normal answer and is dropped.
        `known` is the fast path's answer when the call need not run."""
        result = known or self.kubectl.run(*ensure_argv(self.config.addon_path), merge=True)
        self._note_timeout(result)
        self.log.lines(drop_containing(result.stdout, ALREADY_EXISTS))
        self.log.info(f"== Kubernetes addon ensure completed at {timestamp()} ==")
        problems = classify(result, result.stdout, (ALREADY_EXISTS, NO_OBJECTS))
        return CallReport("ensure", result, problems)

    def reconcile(self, scan: Optional[manifests.Scan] = None, plan: Optional[Plan] = None,
                  known: Optional[dict[str, Result]] = None) -> list[CallReport]:
        scan = scan or manifests.Scan(self.config.addon_path)
        plan = plan or Plan()
        known = known or {}
        words = self.prune_words()
        foreign: Optional[dict[str, list[str]]] = None
        reports = []
        for name, title, selector, cls in RECONCILE_CALLS:
            self.log.info(f"== Reconciling with {title} ==")
            result = known.get(cls)
            if result is None:
                if foreign is None:
                    foreign = self.safety.foreign_protected(scan, self.safety.allowlist()) \
                        if words else {}
                argv = reconcile_argv(self.config.addon_path, selector, words)
                if cls in plan.no_prune or not self.safety.prune_allowed(
                    cls, argv, scan, plan, foreign.get(cls, [])
                ):
                    argv = apply_argv(self.config.addon_path, selector)
                result = self.kubectl.run(*argv)
                self._note_timeout(result)
                self.safety.saw_output(result.stderr)
            # Upstream pipes only stdout through `grep -v configured`; grep block-buffers
            # into the log file, so kubectl's stderr lands first.
            self.log.write(result.stderr, stderr=True)
            self.log.lines(drop_containing(result.stdout, "configured"))
            problems = classify(result, result.stderr + result.stdout, (NO_OBJECTS,))
            reports.append(CallReport(name, result, problems))
        self.log.info(f"== Kubernetes addon reconcile completed at {timestamp()} ==")
        return reports

    def _known_outcomes(self, scan: manifests.Scan, plan: Plan) -> dict[str, Result]:
        """The fast path's answers, unless this pass must be exact: --exact, every
        full_pass_every-th pass (the safety net), or a guard having something to say."""
        self.passes += 1
        every = self.config.full_pass_every
        if self.config.exact or plan.decisions or plan.no_prune or (
            every and self.passes % every == 0
        ):
            return {}
        path = self.config.addon_path
        words = self.prune_words()
        argvs = {
            "ensure": ensure_argv(path),
            manifests.DEPRECATED: reconcile_argv(path, DEPRECATED_SELECTOR, words),
            manifests.RECONCILE: reconcile_argv(path, RECONCILE_SELECTOR, words),
        }
        return self.fast.decide(scan, argvs)

    def run_pass(self, check_leader: bool = True) -> PassReport:
        report = PassReport(started=time.time())
        if check_leader and not self.is_leader():
            self.log.info("Not elected leader, going back to sleep.")
            report.leader = False
        else:
            scan = manifests.scan(self.config.addon_path)
            plan = self.safety.before_pass(scan)
            known = self._known_outcomes(scan, plan)
            report.calls.append(self.ensure(known.get("ensure")))
            report.calls.extend(self.reconcile(scan, plan, known))
            report.decisions = list(plan.decisions)
            failed = {cls for (_n, _t, _s, cls), call in zip(RECONCILE_CALLS, report.calls[1:])
                      if call.failed}
            self.safety.after_pass(scan, plan, failed)
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
            self.wait_or_wake(self.config.interval - elapsed)

    def wait_or_wake(self, seconds: float) -> None:
        """Sleep, returning early on stop or when --watch saw a change (wake)."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            # shutdown() sets wake too; the 1 s cap only bounds a bare stop.set().
            if left <= 0 or self.wake.wait(min(left, 1.0)):
                break
        self.wake.clear()

    def shutdown(self) -> None:
        """Stop now: end the running kubectl, leave any sleep at once."""
        self.stop.set()
        self.wake.set()
        self.kubectl.stop()

    def loop(self, on_pass: Optional[Callable[[PassReport], None]] = None) -> None:
        while not self.stop.is_set():
            start_sec = int(time.time())
            report = self.run_pass()
            memory.trim()
            if on_pass is not None:
                on_pass(report)
            if self.stop.is_set():
                break
            self.sleep_after(start_sec)

