"""Is a live object already what `kubectl apply` would make of its manifest?

Pure comparisons for the optimised pass. They answer "unchanged" only when sure: the
last-applied annotation equals the manifest (so apply's three-way patch has nothing
from the file to change) and every field the manifest sets has the same value live
(so nobody edited one). Anything doubtful (defaulted or reformatted values, quantities,
types YAML knows and JSON does not) counts as drift: an extra apply is harmless, a
missed one is not.
"""
from __future__ import annotations

import base64
import copy
import json
from typing import Any, Optional

from kube_addons.manifests import Manifest

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def expected_last_applied(body: dict, namespace: Optional[str]) -> dict:
    """What kubectl records as last-applied for this manifest: the object as written,
    with the namespace filled in for namespaced kinds, and an annotations map (kubectl
    adds one to hold the record, then takes the record itself out, leaving `{}`)."""
    obj = copy.deepcopy(body)
    meta = obj.setdefault("metadata", {})
    if namespace and not meta.get("namespace"):
        meta["namespace"] = namespace
    annotations = meta.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, dict) else {}
    annotations.pop(LAST_APPLIED, None)
    meta["annotations"] = annotations
    return obj


def _json_equal(a: Any, b: Any) -> bool:
    try:
        return json.loads(json.dumps(a, sort_keys=True)) == b
    except (TypeError, ValueError):
        return False  # a YAML-only type (dates, sets): doubt


def subset(want: Any, live: Any) -> bool:
    """Every value `want` sets is present and equal in `live` (lists element by element)."""
    if isinstance(want, dict):
        if not isinstance(live, dict):
            return False
        return all(key in live and subset(value, live[key]) for key, value in want.items())
    if isinstance(want, list):
        if not isinstance(live, list) or len(want) != len(live):
            return False
        return all(subset(w, v) for w, v in zip(want, live))
    if isinstance(want, bool) or isinstance(live, bool):
        return want is live
    return want == live and type(want) in (str, int, float, type(None))


def _secret_view(body: dict) -> Optional[dict]:
    """A Secret's stringData as the base64 data the server stores (upstream's Secrets never
    converge otherwise). None when the values are not plain strings."""
    string_data = body.get("stringData")
    if not isinstance(string_data, dict):
        return body
    data = dict(body.get("data") or {})
    for key, value in string_data.items():
        if not isinstance(value, str):
            return None
        data[key] = base64.b64encode(value.encode()).decode()
    view = {k: v for k, v in body.items() if k != "stringData"}
    view["data"] = data
    return view


def unchanged(manifest: Manifest, live: Optional[dict], namespace: Optional[str]) -> bool:
    if live is None:
        return False
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(LAST_APPLIED)
    if not recorded:
        return False
    try:
        last = json.loads(recorded)
    except ValueError:
        return False
    if not _json_equal(expected_last_applied(manifest.body, namespace), last):
        return False
    want = manifest.body if manifest.identity.kind != "Secret" else _secret_view(manifest.body)
    if want is None:
        return False
    # apiVersion may be served in another version; the kind and group are already matched.
    want = {k: v for k, v in want.items() if k != "apiVersion"}
    return subset(want, live)
