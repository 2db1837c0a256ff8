"""Safety decisions: pure functions over (what the directory held last pass, what it holds
now, what a dry run says). They decide; the manager runs kubectl.

Upstream deletes live objects whenever they drop out of the apply set without an error
(an emptied or renamed file, a label typo, a mode switch) and prunes any number of
objects, Namespaces included, without a pause. These guards keep the intended cases
(a file deleted, a document removed from a file that still parses) and hold back the
accidental ones, loudly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from kube_addons.manifests import (
    APPLIED_CLASSES,
    ENSURE_EXISTS,
    EXTENSIONS,
    IGNORED,
    Identity,
    Manifest,
    Scan,
)
from kube_addons.output import Operation
from kube_addons.profiles import DEPRECATED_LABEL, MODE_LABEL

SILENT_DROP = "silent-drop"
BLAST_RADIUS = "blast-radius"
MODE_SWITCH = "mode-switch"
ALLOWLIST = "allowlist"

# Kinds whose deletion loses data or cascades, as kubectl names them in its output lines.
PROTECTED_OUTPUT_KINDS = frozenset({
    "namespace", "persistentvolume", "persistentvolumeclaim",
    "customresourcedefinition.apiextensions.k8s.io",
})

# path (relative to ADDON_PATH) -> [(identity, class)]
State = dict[str, list[tuple[Identity, str]]]


@dataclass(frozen=True)
class Decision:
    """One guard trip: a log line, and (for once) part of the summary and exit code."""

    guard: str
    level: str
    message: str
    classes: tuple[str, ...] = ()
    held: bool = True  # something was held back this pass

    def line(self) -> str:
        return f"== guard {self.guard}: {self.message} =="


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)
    no_prune: set[str] = field(default_factory=set)  # classes applied without --prune
    relabels: list[tuple[Manifest, str]] = field(default_factory=list)  # (manifest, old class)
    keep: State = field(default_factory=dict)  # entries to remember though gone now


def rel(scan: Scan, path: str) -> str:
    return os.path.relpath(path, scan.root)


def state_of(scan: Scan) -> State:
    return {
        rel(scan, path): [(obj.identity, obj.cls) for obj in fs.objects]
        for path, fs in scan.files.items()
        if fs.objects
    }


def _names(entries: Iterable[tuple[Identity, str]]) -> str:
    return ", ".join(str(ident) for ident, _cls in entries)


def _renamed_to(scan: Scan, relpath: str) -> Optional[str]:
    """A file kubectl will not read that looks like relpath renamed (foo.yaml.bak, foo.txt)."""
    stem = relpath
    for ext in EXTENSIONS:
        if relpath.endswith(ext):
            stem = relpath[: -len(ext)]
    for other in scan.other_files:
        other_rel = rel(scan, other)
        if other_rel.startswith(relpath) or os.path.splitext(other_rel)[0] == stem:
            return other_rel
    return None


def _under_link(scan: Scan, relpath: str) -> Optional[str]:
    for link in scan.skipped_links:
        link_rel = rel(scan, link)
        if relpath.startswith(link_rel + os.sep):
            return link_rel
    return None


def silent_drops(prev: State, scan: Scan) -> Plan:
    """Files or objects that left the apply set without an error a human would see."""
    plan = Plan()
    current = {rel(scan, p): fs for p, fs in scan.files.items()}
    now = {obj.identity: obj for obj in scan.objects}
    for relpath, entries in sorted(prev.items()):
        applied = [(i, c) for i, c in entries if c in APPLIED_CLASSES]
        if not applied:
            continue
        fs = current.get(relpath)
        why: Optional[str] = None
        lost = applied
        if fs is None:
            renamed = _renamed_to(scan, relpath)
            link = _under_link(scan, relpath)
            if renamed:
                why = f"{relpath} was renamed to {renamed}, which kubectl does not read"
            elif link:
                why = f"{relpath} is now under the symlinked directory {link}, which kubectl skips"
        elif fs.error:
            why = f"{fs.error}"
        elif fs.empty:
            why = f"{relpath} is empty"
        else:
            # The file parses: objects removed from it are intended prunes, but one whose
            # labels silently stopped matching any class is a typo until shown otherwise.
            lost = [(i, c) for i, c in applied if i in now and now[i].cls == IGNORED]
            if lost:
                why = f"{relpath}: {_names(lost)} no longer carry a valid mode label"
        if why is None:
            continue
        classes = tuple(sorted({c for _i, c in lost}))
        plan.no_prune.update(classes)
        plan.keep[relpath] = list(entries)
        plan.decisions.append(Decision(
            SILENT_DROP, "WRN",
            f"{why}; applying {'/'.join(classes)} without --prune, keeping {_names(lost)}",
            classes,
        ))
    return plan


def mode_switches(prev: State, scan: Scan) -> list[tuple[Manifest, str]]:
    """Objects whose class changed between applied classes and EnsureExists (or between the
    two applied classes): the live object must be relabelled before the pass, or the old
    class's prune deletes it (and, for EnsureExists, `create` re-creates it empty)."""
    before = {i: c for entries in prev.values() for i, c in entries}
    switches = []
    for obj in scan.objects:
        old = before.get(obj.identity)
        if old is None or old == obj.cls or old not in APPLIED_CLASSES:
            continue
        if obj.cls in APPLIED_CLASSES or obj.cls == ENSURE_EXISTS:
            switches.append((obj, old))
    return switches


def relabel_args(obj: Manifest) -> list[str]:
    """`kubectl label --overwrite` words setting the two class labels as the manifest has them."""
    words = []
    for key in (MODE_LABEL, DEPRECATED_LABEL):
        value = obj.labels.get(key)
        words.append(f"{key}={value}" if value is not None else f"{key}-")
    return words


def removed(prev: State, scan: Scan, cls: str) -> list[Identity]:
    """Objects of cls applied last pass that the directory no longer holds in cls."""
    now = {(obj.identity, obj.cls) for obj in scan.objects}
    return sorted({i for entries in prev.values() for i, c in entries
                   if c == cls and (i, c) not in now})


def _allowed(op: Operation, allow: frozenset[str]) -> bool:
    kind = op.kind.split(".")[0]
    for entry in allow:
        parts = entry.split("/")
        if len(parts) == 3:
            a_kind, _a_ns, a_name = parts
        elif len(parts) == 2:
            a_kind, a_name = parts
        else:
            continue
        if a_kind.lower().split(".")[0] == kind and a_name == op.name:
            return True
    return False


def blast_radius(would_prune: list[Operation], max_prune: int,
                 allow: frozenset[str]) -> Optional[str]:
    """Why this prune must wait for an operator, or None when it may go ahead."""
    pending = [op for op in would_prune if not _allowed(op, allow)]
    protected = [op for op in pending if op.kind in PROTECTED_OUTPUT_KINDS]
    if protected:
        names = ", ".join(f"{op.kind}/{op.name}" for op in protected)
        return f"would prune protected {names}"
    if len(pending) > max_prune:
        names = ", ".join(f"{op.kind}/{op.name}" for op in pending)
        return f"would prune {len(pending)} objects (more than --max-prune {max_prune}): {names}"
    return None


def next_state(prev: State, scan: Scan, plan: Plan, held_classes: set[str]) -> State:
    """What to remember: the directory as it is, plus whatever a guard kept alive, so the
    guard trips again next pass instead of letting the prune through."""
    state = state_of(scan)
    for relpath, entries in plan.keep.items():
        state[relpath] = list(entries)
    if held_classes:
        present = {(i, c) for entries in state.values() for i, c in entries}
        for relpath, entries in prev.items():
            kept = [(i, c) for i, c in entries if c in held_classes and (i, c) not in present]
            if kept:
                state.setdefault(relpath, [])
                state[relpath] = state[relpath] + kept
    return state
