"""What each manifest file held last pass, remembered across restarts and `once` runs.

Kept in memory by the loop and mirrored into a small ConfigMap in kube-system, named
after ADDON_PATH so that instances managing other directories do not share it.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

from kube_addons.guards import State
from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log
from kube_addons.manifests import Identity
from kube_addons.profiles import SYSTEM_NAMESPACE

PREFIX = "kube-addons-state-"
KEY = "state"
MEMORY_ONLY = "none"


def configmap_name(addon_path: str) -> str:
    digest = hashlib.sha256(os.path.abspath(addon_path).encode()).hexdigest()[:10]
    return PREFIX + digest


def encode(state: State) -> str:
    files = {
        path: [[i.group, i.kind, i.namespace, i.name, cls] for i, cls in entries]
        for path, entries in sorted(state.items())
    }
    return json.dumps({"version": 1, "files": files}, sort_keys=True)


def decode(text: str) -> State:
    data = json.loads(text)
    return {
        path: [(Identity(g, k, ns, n), cls) for g, k, ns, n, cls in entries]
        for path, entries in data.get("files", {}).items()
    }


class StateStore:
    def __init__(self, kubectl: Kubectl, log: Log, name: str) -> None:
        self.kubectl = kubectl
        self.log = log
        self.name = name
        self._saved: Optional[str] = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.name != MEMORY_ONLY

    def load(self) -> Optional[State]:
        """The remembered state, or None when there is none (first run) or it is unreadable."""
        if not self.enabled:
            return None
        result = self.kubectl.run(
            "get", "configmap", self.name, "-n", SYSTEM_NAMESPACE, "--ignore-not-found",
            "-o", f"jsonpath={{.data.{KEY}}}",
        )
        if not result.ok or not result.stdout.strip():
            return None
        try:
            state = decode(result.stdout)
        except (ValueError, TypeError):
            self.log.warn(f"== state ConfigMap {SYSTEM_NAMESPACE}/{self.name} is unreadable; "
                          "starting without memory ==")
            return None
        self._saved = encode(state)
        return state

    def save(self, state: State) -> None:
        text = encode(state)
        if not self.enabled or text == self._saved:
            return
        manifest = json.dumps({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": self.name, "namespace": SYSTEM_NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "kube-addons"}},
            "data": {KEY: text},
        })
        result = self.kubectl.run("replace", "-f", "-", stdin=manifest)
        if not result.ok and "NotFound" in result.stderr:
            result = self.kubectl.run("create", "-f", "-", stdin=manifest)
        if result.ok:
            self._saved = text
        elif result.stopped or self.kubectl.stopping:
            return  # shutting down: nothing to report
        elif not self._warned:
            self._warned = True
            reason = (result.stderr or result.stdout).strip() or f"exit code {result.exit_code}"
            self.log.warn(f"== cannot record state in {SYSTEM_NAMESPACE}/{self.name} "
                          f"(kept in memory only): {reason} ==")
