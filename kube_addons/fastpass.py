"""The optimised pass: one LIST of the live objects, then kubectl runs only where needed.

Upstream re-applies everything every interval: a three-way patch per object, a GET per
object and a LIST per allowlisted kind per namespace. Here one `kubectl get` (a LIST per
kind, all namespaces, by label) shows what is live. A call is skipped only when its
outcome is already known, and then its upstream output is printed as kubectl would:
- ensure: every EnsureExists object exists (kubectl would print only AlreadyExists
  lines, which are filtered out anyway);
- a reconcile class: every object is unchanged (see drift.py) and nothing is to be
  pruned (kubectl would print `<kind>/<name> unchanged` lines);
- a class with no manifests: kubectl would only say "no objects passed to …".
Whenever anything is in doubt the real call runs, so outcomes are identical.
"""
from __future__ import annotations

import json
from typing import Optional

from kube_addons import drift
from kube_addons.kubectl import Kubectl, Result
from kube_addons.output import split_lines
from kube_addons.manifests import (
    APPLIED_CLASSES,
    DEPRECATED,
    ENSURE_EXISTS,
    IGNORED,
    Identity,
    Manifest,
    Scan,
    classify,
    split_api_version,
)
from kube_addons.profiles import DEPRECATED_LABEL, MODE_LABEL
from kube_addons.drift import LAST_APPLIED
from kube_addons.safety import Safety, parse_gvk, served

OLD_OUTPUT_BEFORE = (1, 11)  # kubectl without `unchanged` lines: keep the exact calls
ENSURE = "ensure"

Scopes = dict[tuple[str, str], bool]


def resource_arg(group: str, kind: str) -> str:
    return f"{kind.lower()}.{group}" if group else kind.lower()


def printed_name(ident: Identity) -> str:
    """How kubectl's name printer shows an object: lower-case kind, group, name."""
    return f"{resource_arg(ident.group, ident.kind)}/{ident.name}"


def live_index(items: list[dict]) -> dict[Identity, dict]:
    index = {}
    for item in items:
        meta = item.get("metadata") or {}
        group, _version = split_api_version(str(item.get("apiVersion", "")))
        ident = Identity(group, str(item.get("kind", "")), meta.get("namespace") or "",
                         meta.get("name", ""))
        index[ident] = item
    return index


def pending_prunes(cls: str, objs: list[Manifest], live: dict[Identity, dict],
                   allowlist: set[tuple[str, str]], scopes: Scopes) -> list[Identity]:
    """Live objects kubectl's prune would delete for this class: carrying the last-applied
    annotation, selected by the class, of an allowlisted kind, in a namespace the class
    visits (or cluster-scoped), and not in the directory."""
    mine = {obj.identity for obj in objs}
    visited = {obj.identity.namespace for obj in objs if obj.identity.namespace}
    pending = []
    for ident, item in live.items():
        meta = item.get("metadata") or {}
        if LAST_APPLIED not in (meta.get("annotations") or {}):
            continue
        if classify(meta.get("labels") or {}) != cls or ident in mine:
            continue
        key = (ident.group, ident.kind.lower())
        if key not in allowlist:
            continue
        if scopes.get(key, True) and ident.namespace not in visited:
            continue
        pending.append(ident)
    return pending


class FastPass:
    def __init__(self, kubectl: Kubectl, safety: Safety) -> None:
        self.kubectl = kubectl
        self.safety = safety
        self.warnings: list[str] = []

    def _usable(self, scan: Scan, scopes: Scopes) -> bool:
        if scan.errors or scan.skipped_links:
            return False
        for obj in scan.objects:
            if obj.cls == IGNORED:
                continue
            namespaced = scopes.get((obj.identity.group, obj.identity.kind.lower()))
            if namespaced is None:
                return False  # a kind the server does not know: let kubectl say so
            if namespaced and not obj.identity.namespace:
                return False  # kubectl would pick the context's namespace: doubt
        return True

    def _list(self, kinds: set[tuple[str, str]], selector: str) -> Optional[list[dict]]:
        if not kinds:
            return []
        resources = ",".join(sorted(resource_arg(g, k) for g, k in kinds))
        result = self.kubectl.run("get", resources, "--all-namespaces", "-l", selector,
                                  "-o", "json")
        if not result.ok:
            return None
        # Server warnings (e.g. "v1 Endpoints is deprecated") that the real apply would also
        # get from its prune LISTs, and print.
        for line in split_lines(result.stderr):
            if line.startswith("Warning:") and line not in self.warnings:
                self.warnings.append(line)
        try:
            return list(json.loads(result.stdout).get("items", []))
        except ValueError:
            return None

    def decide(self, scan: Scan, argvs: dict[str, tuple[str, ...]]) -> dict[str, Result]:
        """Synthetic results for the calls that need not run, keyed "ensure" or a class."""
        self.warnings = []
        version = self.kubectl.client_version()
        found = self.safety.discovery()
        if version is None or version < OLD_OUTPUT_BEFORE or found is None:
            return {}
        versions, scopes = found
        if not self._usable(scan, scopes):
            return {}
        given = self.safety.allowlist()
        if not given:
            return {}  # kubectl would prune with its own built-in list: let it
        if not all(served(entry, versions, set(scopes)) for entry in given):
            return {}  # kubectl fails on an unserved kind: let it say so
        allowlist = {(g, k.lower()) for g, _v, k in filter(None, map(parse_gvk, given))}
        managed = [obj for obj in scan.objects if obj.cls != IGNORED]
        kinds = {(o.identity.group, o.identity.kind) for o in managed}
        kinds |= {(g, k) for g, k in allowlist if (g, k) in scopes}
        items = self._list(kinds, MODE_LABEL)
        if items is None:
            return {}
        deprecated = scan.of_class(DEPRECATED)
        if deprecated:
            more = self._list(kinds, DEPRECATED_LABEL)
            if more is None:
                return {}
            items += more
        live = live_index(items)
        out: dict[str, Result] = {}
        ensure_objs = scan.of_class(ENSURE_EXISTS)
        if not ensure_objs:
            out[ENSURE] = Result(argvs[ENSURE], 1, "error: no objects passed to create\n")
        elif all(obj.identity in live for obj in ensure_objs):
            out[ENSURE] = Result(argvs[ENSURE], 0, "")
        for cls in APPLIED_CLASSES:
            objs = scan.of_class(cls)
            if not objs:
                out[cls] = Result(argvs[cls], 1, "", "error: no objects passed to apply\n")
                continue
            if pending_prunes(cls, objs, live, allowlist, scopes):
                continue
            if all(drift.unchanged(obj, live.get(obj.identity), obj.identity.namespace)
                   for obj in objs):
                text = "".join(f"{printed_name(obj.identity)} unchanged\n" for obj in objs)
                warnings = "".join(line + "\n" for line in self.warnings)
                out[cls] = Result(argvs[cls], 0, text, warnings)
        return out
