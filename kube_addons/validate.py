"""`kube-addons validate [PATH]`: offline checks of an addon directory, no cluster needed.

Reads the tree exactly as kubectl will (manifests.scan) and reports what would make a
pass fail, do nothing, or do something surprising, each with the file and line.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from kube_addons.manifests import (
    APPLIED_CLASSES,
    ENSURE_EXISTS,
    IGNORED,
    RECONCILE,
    Manifest,
    Scan,
    split_api_version,
)
from kube_addons.profiles import DEPRECATED_LABEL, MODE_LABEL

ERROR = "error"
WARNING = "warning"
MODES = (RECONCILE, ENSURE_EXISTS)

# Built-in kinds without a namespace (group, kind); anything else built in is namespaced.
CLUSTER_SCOPED = frozenset({
    ("", "Namespace"), ("", "Node"), ("", "PersistentVolume"), ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
    ("storage.k8s.io", "StorageClass"), ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"), ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("scheduling.k8s.io", "PriorityClass"), ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("resource.k8s.io", "DeviceClass"), ("resource.k8s.io", "ResourceSlice"),
    ("authentication.k8s.io", "TokenReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
})
# Built-in API groups: a kind of these groups not in CLUSTER_SCOPED is namespaced.
BUILTIN_GROUPS = frozenset({
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "storage.k8s.io",
    "scheduling.k8s.io", "node.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "apiregistration.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
})

_LOCATED = re.compile(r"^(?P<where>.+?:\d+): (?P<msg>.*)$", re.S)


@dataclass(frozen=True)
class Finding:
    level: str
    where: str  # "path:line", or "path" when no line applies
    message: str

    def text(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"

    def as_dict(self) -> dict:
        return {"level": self.level, "where": self.where, "message": self.message}


@dataclass
class Report:
    findings: list[Finding]
    objects: int
    files: int

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def exit_code(self, strict: bool = False) -> int:
        return 1 if self.errors or (strict and self.warnings) else 0

    def summary(self) -> str:
        return (
            f"validate: {self.objects} objects in {self.files} files: "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )


def gk(entry: str) -> tuple[str, str] | None:
    """(group, Kind) of an allowlist entry `group/version/Kind` (`core` = "")."""
    parts = entry.split("/")
    if len(parts) != 3:
        return None
    return ("" if parts[0] == "core" else parts[0]), parts[2]


def kind_name(group: str, kind: str) -> str:
    return f"{kind}.{group}" if group else kind


def crd_scopes(objects: Iterable[Manifest]) -> dict[tuple[str, str], bool]:
    """(group, Kind) -> namespaced, from CustomResourceDefinitions in the directory."""
    scopes: dict[tuple[str, str], bool] = {}
    for obj in objects:
        if (obj.identity.group, obj.identity.kind) != ("apiextensions.k8s.io",
                                                       "CustomResourceDefinition"):
            continue
        spec = obj.body.get("spec") or {}
        names = spec.get("names") or {}
        if isinstance(spec, dict) and isinstance(names, dict) and names.get("kind"):
            scopes[(str(spec.get("group", "")), str(names["kind"]))] = (
                spec.get("scope") != "Cluster"
            )
    return scopes


def namespaced(group: str, kind: str, crds: dict[tuple[str, str], bool]) -> bool | None:
    """True/False when known, None for custom kinds defined elsewhere."""
    if (group, kind) in crds:
        return crds[(group, kind)]
    if (group, kind) in CLUSTER_SCOPED:
        return False
    if group in BUILTIN_GROUPS:
        return True
    return None


def _file_findings(scan: Scan) -> list[Finding]:
    found = []
    for text in scan.errors:
        match = _LOCATED.match(text)
        if match:
            found.append(Finding(ERROR, match["where"], match["msg"]))
        else:
            where, _sep, msg = text.partition(": ")
            found.append(Finding(ERROR, where, msg or text))
    return found


def _label_findings(obj: Manifest) -> list[Finding]:
    mode = obj.labels.get(MODE_LABEL)
    ident = obj.identity
    if mode is not None and mode not in MODES:
        return [Finding(
            ERROR, obj.where,
            f"{ident}: unknown {MODE_LABEL} value {mode!r} (expected Reconcile or "
            f"EnsureExists)" + ("; kube-addons ignores this object" if obj.cls == IGNORED
                               else ""),
        )]
    if mode is None and obj.labels.get(DEPRECATED_LABEL) != "true":
        return [Finding(
            WARNING, obj.where,
            f"{ident}: no {MODE_LABEL} label; kube-addons ignores this object",
        )]
    return []


def _key(obj: Manifest, crds: dict[tuple[str, str], bool]) -> tuple[str, str, str, str]:
    ident = obj.identity
    scoped = namespaced(ident.group, ident.kind, crds)
    return (ident.group, ident.kind, ident.namespace if scoped is not False else "", ident.name)


def _identity_findings(objects: list[Manifest], crds: dict) -> list[Finding]:
    groups: dict[tuple[str, str, str, str], list[Manifest]] = defaultdict(list)
    for obj in objects:
        if obj.cls != IGNORED:
            groups[_key(obj, crds)].append(obj)
    found = []
    for same in groups.values():
        if len(same) < 2:
            continue
        first, others = same[0], same[1:]
        places = ", ".join(o.where for o in others)
        classes = {o.cls for o in same}
        if ENSURE_EXISTS in classes and classes & set(APPLIED_CLASSES):
            modes = ", ".join(f"{o.cls} at {o.where}" for o in same)
            found.append(Finding(
                ERROR, first.where, f"{first.identity} is in both modes: {modes}"
            ))
        elif len({o.path for o in same}) > 1:
            found.append(Finding(
                ERROR, first.where, f"{first.identity} is also defined at {places}"
            ))
        else:
            found.append(Finding(
                ERROR, first.where, f"{first.identity} is defined twice in this file "
                f"(again at {places})"
            ))
    return found


def _prune_findings(objects: list[Manifest], allowlist: tuple[str, ...]) -> list[Finding]:
    covered = {entry for entry in (gk(e) for e in allowlist) if entry}
    uncovered: dict[tuple[str, str], list[Manifest]] = defaultdict(list)
    for obj in objects:
        key = (obj.identity.group, obj.identity.kind)
        if obj.cls in APPLIED_CLASSES and key not in covered:
            uncovered[key].append(obj)
    found = []
    for (group, kind), objs in uncovered.items():
        version = split_api_version(objs[0].api_version)[1]
        entry = f"{group or 'core'}/{version}/{kind}"
        more = f" (and {len(objs) - 1} more)" if len(objs) > 1 else ""
        found.append(Finding(
            WARNING, objs[0].where,
            f"{kind_name(group, kind)} is not in the prune allowlist: removing the manifest "
            f"of {objs[0].identity}{more} will not delete it (add {entry} to "
            f"KUBECTL_EXTRA_PRUNE_WHITELIST)",
        ))
    return found


def _namespace_findings(objects: list[Manifest], crds: dict) -> list[Finding]:
    found = []
    for obj in objects:
        ident = obj.identity
        if obj.cls == IGNORED or ident.namespace:
            continue
        if namespaced(ident.group, ident.kind, crds):
            found.append(Finding(
                ERROR, obj.where,
                f"{ident}: {kind_name(ident.group, ident.kind)} is namespaced but the "
                "manifest names no namespace (kubectl would use the kubeconfig's)",
            ))
    return found


def validate(scan: Scan, allowlist: tuple[str, ...]) -> Report:
    objects = scan.objects
    crds = crd_scopes(objects)
    findings = _file_findings(scan)
    for obj in objects:
        findings += _label_findings(obj)
    findings += _identity_findings(objects, crds)
    findings += _prune_findings(objects, allowlist)
    findings += _namespace_findings(objects, crds)
    findings.sort(key=_order)
    return Report(findings, len(objects), len(scan.files))


def _order(finding: Finding) -> tuple:
    path, _sep, line = finding.where.rpartition(":")
    if line.isdigit():
        return (path, int(line), finding.level, finding.message)
    return (finding.where, 0, finding.level, finding.message)
