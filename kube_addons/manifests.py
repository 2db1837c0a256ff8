"""Reading ADDON_PATH the way `kubectl -f DIR --recursive` does, without a cluster.

kubectl walks the tree in lexical order, reads only `.json`, `.yaml` and `.yml` files
(hidden ones too), reads symlinked files but does not descend into symlinked
directories, splits multi-document files and flattens `List` objects. The `-l`
selector is then checked against each object's labels as written in the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import yaml

from kube_addons.profiles import DEPRECATED_LABEL, MODE_LABEL

EXTENSIONS = (".json", ".yaml", ".yml")

RECONCILE = "Reconcile"
ENSURE_EXISTS = "EnsureExists"
DEPRECATED = "Deprecated"  # cluster-service=true without EnsureExists: reconciled
IGNORED = "Ignored"
APPLIED_CLASSES = (DEPRECATED, RECONCILE)

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, order=True)
class Identity:
    group: str
    kind: str
    namespace: str  # "" when the manifest names none
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{kind}/{where}{self.name}"


@dataclass(frozen=True)
class Manifest:
    identity: Identity
    api_version: str
    labels: dict
    cls: str
    path: str
    line: int
    body: dict = field(compare=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class FileScan:
    path: str
    objects: list[Manifest] = field(default_factory=list)
    error: Optional[str] = None  # "path:line: problem"
    empty: bool = False  # parsed, but held no object


@dataclass
class Scan:
    root: str
    files: dict[str, FileScan] = field(default_factory=dict)
    skipped_links: list[str] = field(default_factory=list)
    # Files kubectl will not read because of their name (e.g. foo.yaml.bak).
    other_files: list[str] = field(default_factory=list)
    error: Optional[str] = None  # the root itself is unusable

    @property
    def objects(self) -> list[Manifest]:
        return [obj for scan in self.files.values() for obj in scan.objects]

    @property
    def errors(self) -> list[str]:
        found = [scan.error for scan in self.files.values() if scan.error]
        return ([self.error] if self.error else []) + found

    def of_class(self, *classes: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj.cls in classes]


def classify(labels: dict) -> str:
    """The class a manifest falls in, mirroring upstream's three label selectors."""
    mode = labels.get(MODE_LABEL)
    if mode == ENSURE_EXISTS:
        return ENSURE_EXISTS
    if labels.get(DEPRECATED_LABEL) == "true":
        return DEPRECATED
    if mode == RECONCILE:
        return RECONCILE
    return IGNORED


def split_api_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _walk(root: str, scan: Scan) -> Iterator[str]:
    try:
        names = sorted(os.listdir(root))
    except OSError as exc:
        scan.error = f"{root}: {exc.strerror}"
        return
    for name in names:
        path = os.path.join(root, name)
        if os.path.islink(path) and os.path.isdir(path):
            scan.skipped_links.append(path)
        elif os.path.isdir(path):
            yield from _walk(path, scan)
        elif name.endswith(EXTENSIONS):
            yield path
        else:
            scan.other_files.append(path)


def _mark_line(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def _documents(text: str) -> Iterator[tuple[int, Any]]:
    """(first line, data) per YAML/JSON document."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node.start_mark.line + 1, loader.construct_document(node)
    finally:
        loader.dispose()


def _objects(data: Any, line: int, path: str) -> Iterator[tuple[dict, int]]:
    if isinstance(data, dict) and str(data.get("kind", "")).endswith("List") and isinstance(
        data.get("items"), list
    ):
        for item in data["items"]:
            yield from _objects(item, line, path)
    else:
        yield data, line


def _manifest(obj: Any, line: int, path: str) -> Manifest:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}:{line}: a document must be a mapping, got {type(obj).__name__}")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        missing = "apiVersion" if not api_version else "kind"
        raise ValueError(f"{path}:{line}: object has no {missing}")
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ValueError(f"{path}:{line}: metadata must be a mapping")
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        raise ValueError(f"{path}:{line}: metadata.labels must be a mapping")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise ValueError(
                f"{path}:{line}: label {key} must be a string, got {value!r} (quote it)"
            )
    group, _version = split_api_version(str(api_version))
    ident = Identity(group, str(kind), str(meta.get("namespace") or ""), str(meta.get("name", "")))
    return Manifest(ident, str(api_version), dict(labels), classify(labels), path, line, obj)


def scan_file(path: str) -> FileScan:
    result = FileScan(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        result.error = f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
        return result
    try:
        for line, data in _documents(text):
            if data is None:
                continue
            for obj, obj_line in _objects(data, line, path):
                result.objects.append(_manifest(obj, obj_line, path))
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        result.error = f"{path}:{_mark_line(exc)}: {problem}"
    except ValueError as exc:
        result.error = str(exc)
    result.empty = not result.objects and result.error is None
    return result


def scan(root: str) -> Scan:
    result = Scan(root)
    if not os.path.isdir(root):
        result.error = f"{root}: no such directory"
        return result
    for path in _walk(root, result):
        result.files[path] = scan_file(path)
    return result
