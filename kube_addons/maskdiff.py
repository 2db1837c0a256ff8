"""The differ `kube-addons diff` gives kubectl (KUBECTL_EXTERNAL_DIFF), masking Secrets.

kubectl diff masks `data` itself (since 1.20) but not the last-applied-configuration
annotation, which holds a client-side-applied Secret in clear text (stringData
included). This differ masks both, then prints a unified diff per object with stable
`live/` and `merged/` labels instead of kubectl's temporary directory names.

Run by kubectl as `<script> LIVE_DIR MERGED_DIR`; exit 0 = same, 1 = differences.
"""
from __future__ import annotations

import difflib
import os
import sys
from typing import Any, Optional

import yaml

from kube_addons.drift import LAST_APPLIED

MASK = "***"
BEFORE = "*** (before)"
AFTER = "*** (after)"
SECRET_FIELDS = ("data", "stringData")


def _masked(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK)


def mask_pair(live: Any, merged: Any) -> tuple[Any, Any]:
    """Masks for one value on both sides: equal stays visibly equal, changed shows as
    before/after, present on one side only is a plain mask."""
    if live is None or merged is None:
        return (None if live is None else MASK), (None if merged is None else MASK)
    if _masked(live) and _masked(merged):
        return live, merged  # kubectl already masked it
    if live == merged:
        return MASK, MASK
    return BEFORE, AFTER


def is_secret(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("kind") == "Secret" and obj.get(
        "apiVersion"
    ) in ("v1", None)


def mask_secrets(live: Optional[dict], merged: Optional[dict]) -> tuple[Optional[dict],
                                                                        Optional[dict]]:
    if not (is_secret(live) or is_secret(merged)):
        return live, merged
    left = dict(live) if isinstance(live, dict) else None
    right = dict(merged) if isinstance(merged, dict) else None
    for name in SECRET_FIELDS:
        lv = (left or {}).get(name) or {}
        rv = (right or {}).get(name) or {}
        if not isinstance(lv, dict) or not isinstance(rv, dict):
            lv, rv = {"": lv}, {"": rv}
        keys = sorted(set(lv) | set(rv))
        lm: dict = {}
        rm: dict = {}
        for key in keys:
            a, b = mask_pair(lv.get(key), rv.get(key))
            if a is not None:
                lm[key] = a
            if b is not None:
                rm[key] = b
        if left is not None and name in left:
            left[name] = lm
        if right is not None and name in right:
            right[name] = rm
    _mask_annotation(left, right)
    return left, right


def _annotations(obj: Optional[dict]) -> Optional[dict]:
    if obj is None:
        return None
    meta = dict(obj.get("metadata") or {})
    obj["metadata"] = meta
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        return None
    meta["annotations"] = dict(annotations)
    return meta["annotations"]


def _mask_annotation(left: Optional[dict], right: Optional[dict]) -> None:
    la, ra = _annotations(left), _annotations(right)
    a, b = mask_pair((la or {}).get(LAST_APPLIED), (ra or {}).get(LAST_APPLIED))
    if la is not None and a is not None:
        la[LAST_APPLIED] = a
    if ra is not None and b is not None:
        ra[LAST_APPLIED] = b


def _load(path: str) -> tuple[str, Optional[dict]]:
    if not os.path.exists(path):
        return "", None
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError:
        obj = None
    return text, obj if isinstance(obj, dict) else None


def _dump(obj: Optional[dict], original: str) -> str:
    if obj is None:
        return original
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)


def diff_file(live_dir: str, merged_dir: str, name: str) -> list[str]:
    live_text, live = _load(os.path.join(live_dir, name))
    merged_text, merged = _load(os.path.join(merged_dir, name))
    if is_secret(live) or is_secret(merged):
        live, merged = mask_secrets(live, merged)
        live_text = _dump(live, live_text) if live is not None else live_text
        merged_text = _dump(merged, merged_text) if merged is not None else merged_text
    lines = list(difflib.unified_diff(
        live_text.splitlines(keepends=True), merged_text.splitlines(keepends=True),
        f"live/{name}", f"merged/{name}",
    ))
    if not lines:
        return []
    body = [line if line.endswith("\n") else line + "\n" for line in lines]
    return [f"diff -u -N live/{name} merged/{name}\n", *body]


def diff_dirs(live_dir: str, merged_dir: str) -> list[str]:
    names = sorted(set(_listing(live_dir)) | set(_listing(merged_dir)))
    out: list[str] = []
    for name in names:
        out += diff_file(live_dir, merged_dir, name)
    return out


def _listing(path: str) -> list[str]:
    try:
        return [n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n))]
    except OSError:
        return []


def main(argv: list[str]) -> int:
    dirs = [arg for arg in argv if not arg.startswith("-")]
    if len(dirs) < 2:
        print("usage: maskdiff LIVE_DIR MERGED_DIR", file=sys.stderr)
        return 2
    lines = diff_dirs(dirs[0], dirs[1])
    sys.stdout.writelines(lines)
    sys.stdout.flush()
    return 1 if lines else 0


SCRIPT = """#!{python}
import sys
sys.path.insert(0, {root!r})
from kube_addons.maskdiff import main
sys.exit(main(sys.argv[1:]))
"""


def write_script(directory: str) -> str:
    """An executable kubectl can run: KUBECTL_EXTERNAL_DIFF takes a program, not a
    command line (arguments are filtered), so `python -m` cannot be given directly."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(directory, "kube-addons-maskdiff")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(SCRIPT.format(python=sys.executable, root=root))
    os.chmod(path, 0o755)
    return path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
