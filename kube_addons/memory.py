"""Keeping the long-running daemon's resident memory small and flat (glibc only).

Each kubectl call runs on short-lived threads; glibc gives threads their own malloc
arenas and keeps freed pages, so RSS creeps up although nothing leaks. Capping the
arenas and handing free pages back after each pass keeps it flat. Elsewhere (musl,
macOS) these are no-ops.
"""
from __future__ import annotations

from typing import Any, Optional

M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h
_libc: Optional[Any] = None
_loaded = False


def _glibc() -> Optional[Any]:
    global _libc, _loaded
    if not _loaded:
        _loaded = True
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            _libc = libc if hasattr(libc, "malloc_trim") else None
        except OSError:
            _libc = None
    return _libc


def limit_arenas(count: int = 2) -> bool:
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, count))


def trim() -> None:
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
