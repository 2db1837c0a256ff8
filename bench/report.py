"""Results, summaries, the markdown report and the final ratio line."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from bench import apimetrics

EXACT = "exact"
OPTIMISED = "optimised"
MODES = (EXACT, OPTIMISED)
RATIO_SIZE = 300
DEFAULT_INTERVAL = 60
UPSTREAM_MILLICORES = 125
POD_REQUEST_MILLICORES = 5


@dataclass
class Block:
    """Steady-state passes of one mode at one size."""

    size: int
    mode: str
    walls: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    kubectl: list[int] = field(default_factory=list)
    kubectl_by_verb: dict[str, int] = field(default_factory=dict)
    # (verb, resource) -> requests per pass, idle subtracted
    requests: dict[apimetrics.Key, float] = field(default_factory=dict)
    raw_requests: dict[apimetrics.Key, float] = field(default_factory=dict)
    seconds: float = 0.0
    warmup_wall: Optional[float] = None
    failed_passes: int = 0
    problems: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def passes(self) -> int:
        return len(self.walls)

    @property
    def requests_per_pass(self) -> float:
        return apimetrics.total(self.requests)

    @property
    def wall_median(self) -> Optional[float]:
        return statistics.median(self.walls) if self.walls else None

    @property
    def cpu_per_pass(self) -> Optional[float]:
        return statistics.mean(self.cpu) if self.cpu else None

    @property
    def kubectl_per_pass(self) -> Optional[float]:
        return statistics.mean(self.kubectl) if self.kubectl else None


def summary(values: Sequence[float]) -> dict[str, Optional[float]]:
    if not values:
        return {"median": None, "min": None, "max": None, "mean": None}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "mean": statistics.mean(values)}


def ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    if num is None or den is None or den <= 0:
        return None
    return num / den


def block_ratios(opt: Optional[Block], exact: Optional[Block]) -> dict[str, Optional[float]]:
    if opt is None or exact is None:
        return {"wall": None, "requests": None, "kubectl": None, "cpu": None}
    return {
        "wall": ratio(opt.wall_median, exact.wall_median),
        "requests": ratio(opt.requests_per_pass, exact.requests_per_pass),
        "kubectl": ratio(opt.kubectl_per_pass, exact.kubectl_per_pass),
        "cpu": ratio(opt.cpu_per_pass, exact.cpu_per_pass),
    }


def fmt_ratio(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def ratio_line(size: int, wall: Optional[float], requests: Optional[float]) -> str:
    return (f"steady-pass ratio optimised/exact at {size} objects: "
            f"wall {fmt_ratio(wall)}, requests {fmt_ratio(requests)}")


def ratio_size(sizes: Sequence[int]) -> int:
    """300 when measured, else the largest size measured."""
    return RATIO_SIZE if RATIO_SIZE in sizes or not sizes else max(sizes)


def millicores(cpu_per_pass: Optional[float], interval: int = DEFAULT_INTERVAL,
               idle_millicores: float = 0.0) -> Optional[float]:
    if cpu_per_pass is None or interval <= 0:
        return None
    return 1000.0 * cpu_per_pass / interval + idle_millicores


def growth(small: Optional[Block], large: Optional[Block]) -> dict[str, Optional[float]]:
    """How much a pass grows from the smallest to the largest size, next to the object
    ratio (linear growth has wall/requests factors equal to it)."""
    if small is None or large is None:
        return {"objects": None, "wall": None, "requests": None}
    return {
        "objects": large.size / small.size,
        "wall": ratio(large.wall_median, small.wall_median),
        "requests": ratio(large.requests_per_pass, small.requests_per_pass),
    }


# -- markdown -------------------------------------------------------------------------------


def _num(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def steady_table(blocks: Sequence[Block]) -> str:
    header = ["objects", "mode", "passes", "wall median s", "min s", "max s",
              "API requests/pass", "kubectl procs/pass", "CPU s/pass", "first pass s", "note"]
    rows = []
    for b in blocks:
        s = summary(b.walls)
        rows.append([
            str(b.size), b.mode, str(b.passes), _num(s["median"]), _num(s["min"]),
            _num(s["max"]), _num(b.requests_per_pass, 1), _num(b.kubectl_per_pass, 1),
            _num(b.cpu_per_pass), _num(b.warmup_wall), b.note or "",
        ])
    return table(header, rows)


FULL_PASS_EVERY = 10  # the daemon's default safety net: every 10th pass is exact


def amortised(opt: Optional[float], exact: Optional[float],
              every: int = FULL_PASS_EVERY) -> Optional[float]:
    """Optimised/exact per pass averaged over a cycle in which every Nth pass is exact
    (the steady blocks measure the optimised pass alone)."""
    if opt is None or exact is None or not exact or every <= 0:
        return None
    return ((every - 1) * opt + exact) / every / exact


def ratio_table(blocks: Sequence[Block]) -> str:
    sizes = sorted({b.size for b in blocks})
    rows = []
    for size in sizes:
        opt, exact = find(blocks, size, OPTIMISED), find(blocks, size, EXACT)
        r = block_ratios(opt, exact)
        both = opt is not None and exact is not None
        wall_cycle = amortised(opt.wall_median, exact.wall_median) if both else None
        req_cycle = amortised(opt.requests_per_pass, exact.requests_per_pass) if both else None
        rows.append([str(size), fmt_ratio(r["wall"]), fmt_ratio(r["requests"]),
                     fmt_ratio(r["kubectl"]), fmt_ratio(r["cpu"]), fmt_ratio(wall_cycle),
                     fmt_ratio(req_cycle)])
    return table(["objects", "wall", "API requests", "kubectl procs", "CPU",
                  f"wall, 1 in {FULL_PASS_EVERY} exact", f"requests, 1 in {FULL_PASS_EVERY} exact"],
                 rows)


def requests_table(blocks: Sequence[Block], min_per_pass: float = 0.5) -> str:
    """Requests per pass by verb and resource, one column per (size, mode)."""
    keys: set[apimetrics.Key] = set()
    for b in blocks:
        keys |= {k for k, v in b.requests.items() if v >= min_per_pass}
    header = ["verb resource"] + [f"{b.size} {b.mode}" for b in blocks]
    rows = [[apimetrics.key_text(k)] + [_num(b.requests.get(k), 1) for b in blocks]
            for k in sorted(keys, key=lambda k: (k[1], k[0]))]
    rows.append(["**total**"] + [_num(b.requests_per_pass, 1) for b in blocks])
    return table(header, rows)


def find(blocks: Sequence[Block], size: int, mode: str) -> Optional[Block]:
    for b in blocks:
        if b.size == size and b.mode == mode:
            return b
    return None


def jsonable(value: Any) -> Any:
    """Tuple keys (verb, resource) become "VERB resource" strings."""
    if isinstance(value, dict):
        return {(apimetrics.key_text(k) if isinstance(k, tuple) else k): jsonable(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def block_json(b: Block) -> dict[str, Any]:
    return jsonable({
        "size": b.size, "mode": b.mode, "passes": b.passes,
        "wall_seconds": summary(b.walls), "walls": b.walls,
        "api_requests_per_pass": b.requests_per_pass,
        "api_requests_per_pass_by_verb": apimetrics.by_verb(b.requests),
        "api_requests_per_pass_by_verb_resource": b.requests,
        "api_requests_raw_block": b.raw_requests,
        "kubectl_per_pass": b.kubectl_per_pass, "kubectl_calls_by_verb": b.kubectl_by_verb,
        "kubectl_per_pass_list": b.kubectl,
        "cpu_seconds_per_pass": summary(b.cpu), "cpu_seconds": b.cpu, "block_seconds": b.seconds,
        "first_pass_wall": b.warmup_wall, "failed_passes": b.failed_passes,
        "problems": b.problems[:20], "note": b.note,
    })
