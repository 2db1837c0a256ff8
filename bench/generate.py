"""Synthetic addon directories: N objects of seven kinds across namespaces, ~20 % EnsureExists.

Objects come in "addons" of seven (ServiceAccount, Role, RoleBinding, ConfigMap, Secret,
Service, Deployment: the shape of a real addon), one multi-document file per addon under
`<root>/<namespace>/`. Every fifth object is EnsureExists; every other Secret is written
with `stringData` (which upstream's apply never settles), every other Service is headless
(the dev cluster's service range has only 254 addresses).
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MODE_LABEL = "addonmanager.kubernetes.io/mode"
RECONCILE = "Reconcile"
ENSURE_EXISTS = "EnsureExists"
KINDS = ("ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Service", "Deployment")
ADDON_SIZE = len(KINDS)
ENSURE_EVERY = 5  # object i is EnsureExists when i % 5 == 4: exactly floor(N / 5)
IMAGE = "registry.k8s.io/pause:3.10"
LATENCY_KEY = "value"


@dataclass
class Obj:
    index: int
    addon: int
    kind: str
    namespace: str
    name: str
    mode: str
    doc: dict[str, Any] = field(default_factory=dict)


def namespaces_for(size: int, count: int = 3, tag: str = "") -> list[str]:
    return [f"bench-{size}{tag}-{chr(ord('a') + i)}" for i in range(count)]


def _meta(name: str, namespace: str, mode: str, app: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace,
            "labels": {MODE_LABEL: mode, "app": app, "bench": "kube-addons"}}


def _body(kind: str, name: str, namespace: str, addon: int, secret_string: bool) -> dict:
    """The kind-specific part of one object."""
    if kind == "ServiceAccount":
        return {"apiVersion": "v1"}
    if kind == "Role":
        return {"apiVersion": "rbac.authorization.k8s.io/v1",
                "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                           "verbs": ["get", "list", "watch"]}]}
    if kind == "RoleBinding":
        return {"apiVersion": "rbac.authorization.k8s.io/v1",
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name,
                              "namespace": namespace}]}
    if kind == "ConfigMap":
        return {"apiVersion": "v1",
                "data": {LATENCY_KEY: "v0",
                         "config.yaml": f"addon: {addon}\nlevel: info\nreplicas: 1\n"}}
    if kind == "Secret":
        if secret_string:
            return {"apiVersion": "v1", "type": "Opaque",
                    "stringData": {"token": f"token-{addon}"}}
        encoded = base64.b64encode(f"token-{addon}".encode()).decode()
        return {"apiVersion": "v1", "type": "Opaque", "data": {"token": encoded}}
    if kind == "Service":
        spec: dict[str, Any] = {"selector": {"app": name},
                                "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
        if addon % 2:
            spec["clusterIP"] = "None"
        return {"apiVersion": "v1", "spec": spec}
    if kind == "Deployment":
        return {"apiVersion": "apps/v1", "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"serviceAccountName": name,
                                  "containers": [{"name": "main", "image": IMAGE}]}}}}
    raise ValueError(f"unknown kind {kind}")


def make_doc(obj: Obj, secret_string: bool) -> dict[str, Any]:
    body = _body(obj.kind, obj.name, obj.namespace, obj.addon, secret_string)
    doc = {"apiVersion": body.pop("apiVersion"), "kind": obj.kind,
           "metadata": _meta(obj.name, obj.namespace, obj.mode, obj.name)}
    doc.update(body)
    return doc


def generate(total: int, namespaces: list[str]) -> list[Obj]:
    """Exactly `total` objects; addon a lives in namespaces[a % len(namespaces)]."""
    if total < 0 or not namespaces:
        raise ValueError("need a non-negative count and at least one namespace")
    objs = []
    for i in range(total):
        addon, kind = divmod(i, ADDON_SIZE)
        ns = namespaces[addon % len(namespaces)]
        mode = ENSURE_EXISTS if i % ENSURE_EVERY == ENSURE_EVERY - 1 else RECONCILE
        obj = Obj(i, addon, KINDS[kind], ns, f"bench-{addon:04d}", mode)
        obj.doc = make_doc(obj, secret_string=addon % 2 == 0)
        objs.append(obj)
    return objs


def addon_file(root: Path, obj: Obj) -> Path:
    return root / obj.namespace / f"addon-{obj.addon:04d}.yaml"


def write_addons(root: Path, objs: list[Obj]) -> list[Path]:
    """One file per addon; returns the files written."""
    groups: dict[Path, list[Obj]] = {}
    for obj in objs:
        groups.setdefault(addon_file(root, obj), []).append(obj)
    for path, members in groups.items():
        write_file(path, members)
    return list(groups)


def write_file(path: Path, members: list[Obj]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump_all([m.doc for m in members], sort_keys=False)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def latency_target(objs: list[Obj]) -> Obj:
    """The first Reconcile ConfigMap: the object the latency test edits."""
    for obj in objs:
        if obj.kind == "ConfigMap" and obj.mode == RECONCILE:
            return obj
    raise ValueError("no Reconcile ConfigMap among the generated objects")


def set_value(root: Path, objs: list[Obj], target: Obj, value: str) -> Path:
    """Rewrite the target's file with data.value changed; returns the file."""
    target.doc["data"][LATENCY_KEY] = value
    path = addon_file(root, target)
    write_file(path, [o for o in objs if addon_file(root, o) == path])
    return path


def counts(objs: list[Obj]) -> dict[str, Any]:
    """Summary of a generated set, for the report and the unit tests."""
    by_kind: dict[str, int] = {}
    for obj in objs:
        by_kind[obj.kind] = by_kind.get(obj.kind, 0) + 1
    return {
        "objects": len(objs),
        "by_kind": by_kind,
        "ensure_exists": sum(1 for o in objs if o.mode == ENSURE_EXISTS),
        "string_data_secrets": sum(1 for o in objs if "stringData" in o.doc),
        "namespaces": sorted({o.namespace for o in objs}),
        "files": len({(o.namespace, o.addon) for o in objs}),
    }
