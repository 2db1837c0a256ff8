"""API requests from kube-apiserver's `apiserver_request_total`: parse, delta, idle-subtract.

The counter has no client label, so requests are attributed by difference: a scrape
before and after a block of passes, minus the idle rate of the same cluster (controller
manager lease renewals etc.) times the block's duration. The harness's own scrapes
(`GET /metrics`) are left out.
"""
from __future__ import annotations

import re
from typing import Mapping

METRIC = "apiserver_request_total"
LABEL_RE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
EXCLUDED = {("GET", "/metrics")}

Series = tuple[tuple[str, str], ...]  # sorted label pairs
Key = tuple[str, str]  # (verb, resource)


def parse_request_totals(text: str) -> dict[Series, float]:
    """Every `apiserver_request_total{...} value` line, keyed by its full label set."""
    out: dict[Series, float] = {}
    prefix = METRIC + "{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        close = line.rfind("}")
        if close < 0:
            continue
        labels = tuple(sorted(LABEL_RE.findall(line[len(prefix):close])))
        try:
            value = float(line[close + 1:].split()[0])
        except (IndexError, ValueError):
            continue
        out[labels] = out.get(labels, 0.0) + value
    return out


def series_key(labels: Series) -> Key:
    """(verb, resource): `configmaps`, `deployments`, `leases`, `namespaces/status`, or a
    non-resource path such as `/openapi/v3`."""
    d = dict(labels)
    verb = d.get("verb", "")
    resource = d.get("resource", "")
    sub = d.get("subresource", "")
    if not resource:
        return verb, "/" + sub.lstrip("/")
    return verb, f"{resource}/{sub}" if sub else resource


def delta(before: Mapping[Series, float], after: Mapping[Series, float]) -> dict[Key, float]:
    """Requests between two scrapes, summed by (verb, resource); a counter that went
    down (apiserver restart) counts from zero."""
    out: dict[Key, float] = {}
    for labels, value in after.items():
        old = before.get(labels, 0.0)
        diff = value - old if value >= old else value
        if diff <= 0:
            continue
        key = series_key(labels)
        if key in EXCLUDED:
            continue
        out[key] = out.get(key, 0.0) + diff
    return out


def rates(counts: Mapping[Key, float], seconds: float) -> dict[Key, float]:
    if seconds <= 0:
        return {}
    return {key: value / seconds for key, value in counts.items()}


def subtract_idle(
    counts: Mapping[Key, float], idle_rates: Mapping[Key, float], seconds: float
) -> dict[Key, float]:
    """Block counts minus the idle rate over the block's duration, each key floored at 0."""
    out: dict[Key, float] = {}
    for key, value in counts.items():
        left = value - idle_rates.get(key, 0.0) * seconds
        if left > 0:
            out[key] = left
    return out


def per_pass(counts: Mapping[Key, float], passes: int) -> dict[Key, float]:
    if passes <= 0:
        return {}
    return {key: value / passes for key, value in counts.items()}


def by_verb(counts: Mapping[Key, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for (verb, _resource), value in counts.items():
        out[verb] = out.get(verb, 0.0) + value
    return out


def total(counts: Mapping[Key, float]) -> float:
    return float(sum(counts.values()))


def key_text(key: Key) -> str:
    return f"{key[0]} {key[1]}"
