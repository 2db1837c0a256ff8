from __future__ import annotations

import platform

from kube_addons import memory


def test_trim_and_arena_cap_are_safe_everywhere():
    memory.trim()
    capped = memory.limit_arenas(2)
    if platform.libc_ver()[0] == "glibc":
        assert capped
