"""Process memory and CPU from /proc and getrusage (Linux)."""
from __future__ import annotations

import os
import resource
from typing import Optional

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_status_kib(text: str, field: str) -> Optional[int]:
    """`VmRSS:     12345 kB` -> 12345."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    return None


def status_kib(pid: int, field: str = "VmRSS") -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            return parse_status_kib(f.read(), field)
    except OSError:
        return None


def parse_stat_cpu(text: str, clk_tck: int = CLK_TCK) -> float:
    """utime + stime + cutime + cstime (own CPU and that of reaped children), seconds."""
    fields = text.rsplit(")", 1)[1].split()
    # After the command: state is fields[0]; utime..cstime are stat fields 14..17.
    return sum(int(v) for v in fields[11:15]) / clk_tck


def cpu_seconds(pid: int) -> Optional[float]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return parse_stat_cpu(f.read())
    except (OSError, IndexError, ValueError):
        return None


def self_and_children_cpu() -> float:
    """CPU of this process and its reaped children (kubectl), seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
