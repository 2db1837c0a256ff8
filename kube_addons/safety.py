"""Runs the guards: remembers state, relabels on mode switches, dry-runs prunes, checks the
prune allowlist against what the server serves. The decisions themselves are in guards.py.
"""
from __future__ import annotations

import json
import time
from typing import Optional

from kube_addons import guards, manifests
from kube_addons.config import Config
from kube_addons.drift import LAST_APPLIED
from kube_addons.guards import ALLOWLIST, BLAST_RADIUS, MODE_SWITCH, Decision, Plan, State
from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log
from kube_addons.manifests import Scan, split_api_version
from kube_addons.output import split_lines, parse_operation
from kube_addons.state import StateStore, configmap_name

DISCOVERY_REFRESH = 600.0  # seconds; also refreshed after a mapping error
MAPPING_ERRORS = ("no matches for kind", "RESTMapping", "ensure CRDs are installed")
# Cluster-scoped protected kinds are pruned cluster-wide, even ones this directory never
# held; they are listed every pass to catch that.
CLUSTER_PROTECTED = {("", "Namespace"): "namespaces", ("", "PersistentVolume"): "persistentvolumes"}


def dry_run_flag(version: Optional[tuple[int, int]]) -> str:
    """Server-side dry run since kubectl 1.18; the client-side one before."""
    if version is not None and version < (1, 18):
        return "--dry-run=true"
    return "--dry-run=server"


def parse_gvk(entry: str) -> Optional[tuple[str, str, str]]:
    parts = entry.split("/")
    if len(parts) != 3:
        return None
    group, version, kind = parts
    return ("" if group == "core" else group), version, kind


def served(entry: str, versions: set[str], kinds: set[tuple[str, str]]) -> bool:
    gvk = parse_gvk(entry)
    if gvk is None:
        return True  # let kubectl report the malformed entry as upstream would
    group, version, kind = gvk
    group_version = f"{group}/{version}" if group else version
    return group_version in versions and (group, kind.lower()) in kinds


def parse_api_resources(text: str) -> dict[tuple[str, str], bool]:
    """(group, lower-case kind) -> namespaced, from `kubectl api-resources --no-headers`."""
    kinds: dict[tuple[str, str], bool] = {}
    for line in split_lines(text):
        words = line.split()
        if len(words) >= 4:
            group, _version = split_api_version(words[-3])
            kinds[(group, words[-1].lower())] = words[-2] == "true"
    return kinds


class Safety:
    def __init__(self, config: Config, kubectl: Kubectl, log: Log) -> None:
        self.config = config
        self.kubectl = kubectl
        self.log = log
        name = config.state_configmap or configmap_name(config.addon_path)
        self.store = StateStore(kubectl, log, name)
        self.state: Optional[State] = None
        self._loaded = False
        self._discovery: Optional[tuple[set[str], dict[tuple[str, str], bool]]] = None
        self._discovered_at = 0.0
        self._left_out: tuple[str, ...] = ()
        self._stale = True
        self._filtered: Optional[tuple[object, tuple[str, ...]]] = None

    # -- allowlist vs discovery (upstream #126371) -----------------------------------

    def discovery(self) -> Optional[tuple[set[str], dict[tuple[str, str], bool]]]:
        """(served group/versions, kind scopes) from the server, refreshed every 10 minutes
        and after a mapping error; None while unknown."""
        age = time.monotonic() - self._discovered_at
        if self._stale or age > DISCOVERY_REFRESH or (self._discovery is None and age > 30):
            self._stale = False
            self._discovered_at = time.monotonic()
            versions = self.kubectl.run("api-versions")
            resources = self.kubectl.run("api-resources", "--no-headers")
            kinds = parse_api_resources(resources.stdout) if resources.ok else {}
            group_versions = set(split_lines(versions.stdout)) if versions.ok else set()
            self._discovery = (group_versions, kinds) if kinds and group_versions else None
        return self._discovery

    def allowlist(self) -> tuple[str, ...]:
        """The prune allowlist less the kinds the server does not serve (upstream #126371).
        Computed once per discovery answer: a pass asks for it several times."""
        wanted = self.config.prune_allowlist
        if not self.config.guards or not wanted:
            return wanted
        found = self.discovery()
        if found is None:
            return wanted  # unknown: pass the list as given
        if self._filtered is not None and self._filtered[0] is found:
            return self._filtered[1]
        versions, kinds = found
        kind_set = set(kinds)
        keep = tuple(e for e in wanted if served(e, versions, kind_set))
        left_out = tuple(e for e in wanted if e not in keep)
        if left_out and left_out != self._left_out:
            self.log.warn(
                f"== guard {ALLOWLIST}: the server does not serve {' '.join(left_out)}; "
                "left out of the prune allowlist =="
            )
        self._left_out = left_out
        self._filtered = (found, keep)
        return keep

    def saw_output(self, text: str) -> None:
        if any(marker in text for marker in MAPPING_ERRORS):
            self._stale = True  # refresh before the next apply

    # -- before the pass ---------------------------------------------------------------

    def before_pass(self, scan: Scan) -> Plan:
        if not self.config.guards:
            return Plan()
        if not self._loaded:
            self.state = self.store.load()
            self._loaded = True
        prev = self.state
        if prev is None:
            return Plan()
        plan = guards.silent_drops(prev, scan)
        for obj, old in guards.mode_switches(prev, scan):
            self._relabel(obj, old, plan)
        for decision in plan.decisions:
            self.log.line(decision.level, decision.line())
        return plan

    def _relabel(self, obj: manifests.Manifest, old: str, plan: Plan) -> None:
        ident = obj.identity
        target = f"{ident.kind.lower()}{'.' + ident.group if ident.group else ''}/{ident.name}"
        args = ["label", "--overwrite", target, *guards.relabel_args(obj)]
        if ident.namespace:
            args[1:1] = ["-n", ident.namespace]
        result = self.kubectl.run(*args)
        if result.ok or "NotFound" in result.stderr:
            what = "relabelled the live object" if result.ok else "no live object yet"
            plan.decisions.append(Decision(
                MODE_SWITCH, "WRN", f"{obj.where}: {ident} moved from {old} to {obj.cls}; "
                f"{what}, so it is neither pruned nor re-created", held=False))
        else:
            # Could not relabel: the old class must not prune it this pass.
            plan.no_prune.add(old)
            plan.decisions.append(Decision(
                MODE_SWITCH, "ERR", f"{obj.where}: {ident} moved from {old} to {obj.cls} but "
                f"relabelling failed ({result.stderr.strip()}); applying {old} without --prune",
                (old,)))

    # -- blast radius ------------------------------------------------------------------

    def foreign_protected(self, scan: Scan, allowlist: tuple[str, ...]) -> dict[str, list[str]]:
        """Per class, cluster-scoped protected objects its prune would delete though this
        directory never held them (another tool's Namespace that carries the mode label).
        One LIST per pass covers both classes."""
        if not self.config.guards:
            return {}
        listed = {(g, k.lower()) for g, _v, k in filter(None, map(parse_gvk, allowlist))}
        resources = [res for (group, kind), res in CLUSTER_PROTECTED.items()
                     if (group, kind.lower()) in listed]
        if not resources:
            return {}
        result = self.kubectl.run("get", ",".join(resources), "-o", "json")
        if not result.ok:
            return {}
        mine = {(o.identity.kind, o.identity.name, o.cls) for o in scan.objects}
        found: dict[str, list[str]] = {}
        for item in json.loads(result.stdout or "{}").get("items", []):
            meta = item.get("metadata", {})
            if LAST_APPLIED not in (meta.get("annotations") or {}):
                continue
            cls = manifests.classify(meta.get("labels") or {})
            if cls not in manifests.APPLIED_CLASSES:
                continue
            if (item.get("kind"), meta.get("name"), cls) not in mine:
                name = f"{item.get('kind', '').lower()}/{meta.get('name')}"
                found.setdefault(cls, []).append(name)
        return found

    def prune_allowed(self, cls: str, argv: tuple[str, ...], scan: Scan, plan: Plan,
                      prev_foreign: list[str]) -> bool:
        """Dry-run the prune when objects are about to go; hold it back past the limits."""
        if not self.config.guards or self.state is None and not prev_foreign:
            return True
        removed = guards.removed(self.state or {}, scan, cls)
        if not removed and not prev_foreign:
            return True
        flag = dry_run_flag(self.kubectl.client_version())
        result = self.kubectl.run(*argv, flag)
        would = [op for op in map(parse_operation, split_lines(result.stdout))
                 if op is not None and op.op == "pruned"]
        reason = guards.blast_radius(would, self.config.max_prune, self.config.allow_prune)
        if reason is None:
            return True
        plan.no_prune.add(cls)
        decision = Decision(BLAST_RADIUS, "ERR", f"{cls}: {reason}; pruning nothing this pass "
                            "(confirm with --allow-prune KIND/NS/NAME or raise --max-prune)",
                            (cls,))
        plan.decisions.append(decision)
        self.log.line(decision.level, decision.line())
        return False

    # -- after the pass ----------------------------------------------------------------

    def after_pass(self, scan: Scan, plan: Plan, failed: set[str]) -> None:
        """Remember the directory; a class whose apply failed or was held keeps what it had,
        so its pending prunes are still dry-run first."""
        if not self.config.guards or scan.error:
            return
        held = set(plan.no_prune) | failed
        self.state = guards.next_state(self.state or {}, scan, plan, held)
        self.store.save(self.state)
