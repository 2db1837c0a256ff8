"""`kube-addons plan`: one pass as a server-side dry run, for CI.

The calls are the pass's own (same argv, same prune flags) plus `--dry-run=server`, so
the answer is the server's: what ensure would create, and what each reconcile apply
would create, configure and prune. Only identities are shown, never object data, so
Secrets cannot leak. Exit codes follow `terraform plan -detailed-exitcode`: 0 nothing to
do, 2 changes pending, 1 error.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

from kube_addons import guards
from kube_addons.kubectl import Result
from kube_addons.manager import Manager, ensure_argv, reconcile_argv
from kube_addons.manifests import DEPRECATED, ENSURE_EXISTS, RECONCILE, Manifest, Scan
from kube_addons.output import (
    ALREADY_EXISTS,
    NO_OBJECTS,
    Operation,
    error_lines,
    parse_operation,
    split_lines,
)
from kube_addons.profiles import DEPRECATED_SELECTOR, RECONCILE_SELECTOR

DRY_RUN = "--dry-run=server"
CREATE, CONFIGURE, PRUNE, ERROR = "create", "configure", "prune", "error"
ACTIONS = (CREATE, CONFIGURE, PRUNE)
EXIT_NO_CHANGES, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2

_OP_ACTION = {"created": CREATE, "configured": CONFIGURE, "pruned": PRUNE}
# A dry run persists nothing, so objects in a namespace the same run would create fail.
_NS_NOT_FOUND = re.compile(
    r'error when creating "(?P<path>[^"]+)": namespaces "(?P<ns>[^"]+)" not found'
)


@dataclass(frozen=True)
class Change:
    action: str
    cls: str
    kind: str
    namespace: str
    name: str
    source: str = ""  # path:line of the manifest; empty for prunes
    note: str = ""


@dataclass
class PlanResult:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    exists: int = 0  # EnsureExists objects already there
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return EXIT_ERROR
        return EXIT_CHANGES if self.changes else EXIT_NO_CHANGES

    def counts(self) -> Counter:
        return Counter(change.action for change in self.changes)

    def summary(self) -> str:
        counts = self.counts()
        text = (
            f"plan: {counts[CREATE]} to create, {counts[CONFIGURE]} to configure, "
            f"{counts[PRUNE]} to prune; {self.unchanged} unchanged, "
            f"{self.exists} EnsureExists already present"
        )
        if self.errors:
            text += f"; {len(self.errors)} errors"
        return text

    def as_dict(self) -> dict:
        counts = self.counts()
        return {
            "exit_code": self.exit_code,
            "summary": {
                "create": counts[CREATE], "configure": counts[CONFIGURE],
                "prune": counts[PRUNE], "unchanged": self.unchanged, "exists": self.exists,
                "errors": len(self.errors),
            },
            "changes": [_change_dict(change) for change in self.changes],
            "errors": list(self.errors),
            "notes": list(self.notes),
        }


def _change_dict(change: Change) -> dict:
    doc = asdict(change)
    return {"action": doc.pop("action"), "class": doc.pop("cls"), **doc}


def output_kind(manifest: Manifest) -> str:
    """How kubectl names the kind in its result lines: `configmap`, `deployment.apps`."""
    kind = manifest.identity.kind.lower()
    return f"{kind}.{manifest.identity.group}" if manifest.identity.group else kind


class _Matcher:
    """Pairs kubectl's `kind/name op` lines with manifests, in walk order (kubectl reads
    the tree in the same order, so equal names in two namespaces pair up correctly)."""

    def __init__(self, objects: Iterable[Manifest]) -> None:
        self.objects = list(objects)
        self.used: set[int] = set()

    def take(self, kind: str, name: str) -> Optional[Manifest]:
        for index, obj in enumerate(self.objects):
            if index not in self.used and obj.identity.name == name and output_kind(obj) == kind:
                self.used.add(index)
                return obj
        return None

    def unmatched(self) -> list[Manifest]:
        return [obj for i, obj in enumerate(self.objects) if i not in self.used]


def _change(action: str, cls: str, obj: Optional[Manifest], kind: str, name: str,
            note: str = "") -> Change:
    if obj is None:
        return Change(action, cls, kind, "", name, "", note)
    ident = obj.identity
    return Change(action, cls, ident.kind, ident.namespace, ident.name, obj.where, note)


def _secret_note(obj: Optional[Manifest]) -> str:
    if obj is not None and obj.identity.kind == "Secret" and "stringData" in obj.body:
        # Client-side apply never converges on stringData: upstream rewrites it each pass.
        return "stringData: re-applied every pass"
    return ""


def json_documents(text: str) -> list[dict]:
    """Concatenated JSON documents, as `kubectl apply -o json --prune` prints them."""
    decoder = json.JSONDecoder()
    docs, index = [], 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return docs
        doc, index = decoder.raw_decode(text, index)
        docs.append(doc)


def pruned_objects(text: str) -> list[dict]:
    """The first document is what was applied (an object or a List); the rest were pruned."""
    return [doc for doc in json_documents(text)[1:] if isinstance(doc, dict)]


def _same_path(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


class Planner:
    def __init__(self, manager: Manager, scan: Scan) -> None:
        self.manager = manager
        self.kubectl = manager.kubectl
        self.scan = scan
        self.path = manager.config.addon_path
        self.result = PlanResult()
        # (class, path, namespace) held back only because the namespace is not there yet.
        self._pending: list[tuple[str, str, str, _Matcher]] = []

    def run(self) -> PlanResult:
        self.ensure()
        for cls, selector in ((DEPRECATED, DEPRECATED_SELECTOR), (RECONCILE, RECONCILE_SELECTOR)):
            self.reconcile(cls, selector)
        self._resolve_pending()
        order = {action: i for i, action in enumerate(ACTIONS)}
        classes = {cls: i for i, cls in enumerate((ENSURE_EXISTS, DEPRECATED, RECONCILE))}
        self.result.changes.sort(
            key=lambda c: (order.get(c.action, len(order)), classes.get(c.cls, len(classes)))
        )
        return self.result

    # -- ensure ----------------------------------------------------------------------

    def ensure(self) -> None:
        result = self.kubectl.run(*ensure_argv(self.path), DRY_RUN, merge=True)
        matcher = _Matcher(self.scan.of_class(ENSURE_EXISTS))
        for line in split_lines(result.stdout):
            op = parse_operation(line)
            if op is not None and op.op == "created":
                obj = matcher.take(op.kind, op.name)
                self.result.changes.append(_change(CREATE, ENSURE_EXISTS, obj, op.kind, op.name))
            elif ALREADY_EXISTS in line:
                self.result.exists += 1
        self._problems(ENSURE_EXISTS, result, result.stdout, matcher)

    # -- reconcile ---------------------------------------------------------------------

    def reconcile(self, cls: str, selector: str) -> None:
        argv = reconcile_argv(self.path, selector, self.manager.prune_words())
        result = self.kubectl.run(*argv, DRY_RUN)
        matcher = _Matcher(self.scan.of_class(cls))
        prunes: list[Operation] = []
        for line in split_lines(result.stdout):
            op = parse_operation(line)
            if op is None:
                continue
            if op.op == "pruned":
                prunes.append(op)
            elif op.op == "unchanged":
                matcher.take(op.kind, op.name)
                self.result.unchanged += 1
            elif op.op in _OP_ACTION:
                obj = matcher.take(op.kind, op.name)
                note = _secret_note(obj) if op.op == "configured" else ""
                self.result.changes.append(_change(_OP_ACTION[op.op], cls, obj, op.kind,
                                                   op.name, note))
        if prunes:
            self._prunes(cls, argv)
            self._guard_note(cls, prunes)
        self._problems(cls, result, result.stderr + result.stdout, matcher)

    def _guard_note(self, cls: str, prunes: list[Operation]) -> None:
        """The blast-radius guard (guards.py) holds such prunes back in a real pass."""
        cfg = self.manager.config
        if not getattr(cfg, "guards", False):
            return
        reason = guards.blast_radius(prunes, cfg.max_prune, cfg.allow_prune)
        if reason:
            self._add_note(f"{cls}: the blast-radius guard will hold these prunes back "
                           f"({reason}) unless allowed (KUBE_ADDONS_ALLOW_PRUNE)")

    def _prunes(self, cls: str, argv: tuple[str, ...]) -> None:
        """The text lines lack namespaces; the JSON form of the same dry run has them."""
        result = self.kubectl.run(*argv, DRY_RUN, "-o", "json")
        try:
            objects = pruned_objects(result.stdout)
        except ValueError as exc:
            self.result.errors.append(f"cannot read the prune dry run: {exc}")
            return
        for obj in objects:
            meta = obj.get("metadata") or {}
            self.result.changes.append(Change(
                PRUNE, cls, str(obj.get("kind", "")), str(meta.get("namespace") or ""),
                str(meta.get("name", "")),
            ))

    # -- errors ----------------------------------------------------------------------

    def _problems(self, cls: str, result: Result, text: str, matcher: _Matcher) -> None:
        if result.timed_out:
            self.result.errors.append(f"kubectl timed out: {' '.join(result.argv)}")
            return
        if result.ok:
            return
        benign = (NO_OBJECTS, ALREADY_EXISTS) if cls == ENSURE_EXISTS else (NO_OBJECTS,)
        problems = error_lines(text, benign)
        if not problems and not any(marker in text for marker in benign):
            problems = [f"kubectl exited with code {result.exit_code}"]
        for line in problems:
            match = _NS_NOT_FOUND.search(line)
            if match:
                self._pending.append((cls, match["path"], match["ns"], matcher))
            else:
                self.result.errors.append(line)

    def _resolve_pending(self) -> None:
        created_ns = {
            change.name for change in self.result.changes
            if change.action == CREATE and change.kind == "Namespace"
        }
        existing_ns = {obj.identity.name for obj in self.scan.objects
                       if obj.identity.kind == "Namespace" and obj.identity.group == ""}
        seen: set[tuple[str, str, str]] = set()
        for cls, path, ns, matcher in self._pending:
            if (cls, path, ns) in seen:
                continue
            seen.add((cls, path, ns))
            if ns not in created_ns:
                self.result.errors.append(
                    f'{path}: namespace "{ns}" does not exist and no manifest creates it'
                    + (" (it is not a Reconcile manifest)" if ns in existing_ns else "")
                )
                continue
            for obj in matcher.unmatched():
                if _same_path(obj.path, path) and obj.identity.namespace == ns:
                    matcher.used.add(matcher.objects.index(obj))
                    note = self._wait_note(obj, cls, ns)
                    self.result.changes.append(_change(CREATE, cls, obj, "", "", note))
            if cls != ENSURE_EXISTS:
                self._add_note(
                    f"{cls}: prune candidates not known: the dry run stops before pruning "
                    f"when objects wait for a namespace it creates"
                )

    def _wait_note(self, obj: Manifest, cls: str, ns: str) -> str:
        """When an object waiting for its namespace really appears: the pass runs ensure,
        then the deprecated apply, then the reconcile apply, each in kubectl's walk order."""
        calls = {ENSURE_EXISTS: 0, DEPRECATED: 1, RECONCILE: 2}
        objects = self.scan.objects
        for index, candidate in enumerate(objects):
            ident = candidate.identity
            if (ident.group, ident.kind, ident.name) != ("", "Namespace", ns):
                continue
            if candidate.cls not in calls:
                continue
            ns_at = (calls[candidate.cls], index)
            obj_at = (calls[cls], objects.index(obj))
            if ns_at < obj_at:
                return f"after namespace {ns}, same pass"
            if cls == ENSURE_EXISTS:
                return f"one pass later: ensure runs before reconcile creates namespace {ns}"
            return f"one pass later: namespace {ns} comes later in kubectl's walk order"
        return f"after namespace {ns}"

    def _add_note(self, note: str) -> None:
        if note not in self.result.notes:
            self.result.notes.append(note)


def make_plan(manager: Manager, scan: Scan) -> PlanResult:
    return Planner(manager, scan).run()


# -- rendering -----------------------------------------------------------------------------

COLUMNS = ("ACTION", "CLASS", "KIND", "NAMESPACE", "NAME", "SOURCE")


def render_table(plan: PlanResult) -> str:
    rows = [
        (c.action, c.cls, c.kind, c.namespace or "-", c.name, c.source or "-")
        + ((c.note,) if c.note else ())
        for c in plan.changes
    ]
    lines: list[str] = []
    if rows:
        widths = [max(len(str(r[i])) for r in rows + [COLUMNS]) for i in range(len(COLUMNS))]

        def fmt(row: tuple) -> str:
            cells = [str(cell).ljust(widths[i]) for i, cell in enumerate(row[: len(COLUMNS)])]
            text = "  ".join(cells).rstrip()
            return f"{text}  ({row[len(COLUMNS)]})" if len(row) > len(COLUMNS) else text

        lines.append(fmt(COLUMNS))
        previous = None
        for row in rows:
            if previous is not None and row[0] != previous:
                lines.append("")
            lines.append(fmt(row))
            previous = row[0]
        lines.append("")
    else:
        lines.append("No changes: the cluster matches ADDON_PATH.")
    for error in plan.errors:
        lines.append(f"error: {error}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    lines.append(plan.summary())
    return "\n".join(lines) + "\n"


def render_json(plan: PlanResult) -> str:
    return json.dumps(plan.as_dict(), indent=2) + "\n"
