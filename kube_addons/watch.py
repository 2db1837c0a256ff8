"""`run --loop --watch`: start a pass soon after something changes under ADDON_PATH.

Events come from watchdog (inotify on Linux) when it can watch the directory, else from
polling a stat fingerprint of the tree. Either way the decision is made on the
fingerprint: an event burst is let settle (debounce), then the tree is compared with what
the last trigger saw, so events that change nothing (kubectl opening the files during a
pass, an editor's temp files that come and go) start no pass. The interval pass stays as
the safety net.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional

WATCHDOG = "watchdog"
POLLING = "polling"

DEBOUNCE = 0.3  # quiet time that ends a burst of events
MAX_DELAY = 1.0  # a steady stream of writes still triggers after this
POLL_INTERVAL = 0.5
RESCAN = 5.0  # watchdog mode: a cheap check for lost watches (directory replaced)
# watchdog >= 2.3 reports reads too; they change nothing.
IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})

Fingerprint = tuple[tuple[str, int, int, int, int], ...]


def fingerprint(root: str) -> Fingerprint:
    """(path, mode, size, mtime_ns, inode) of every entry below root, links not followed.

    ConfigMap volumes swap a `..data` symlink to a fresh directory: both the link target
    and the new directory's entries show up as changes."""
    entries: list[tuple[str, int, int, int, int]] = []
    stack = [root]
    while stack:
        top = stack.pop()
        try:
            names = os.listdir(top)
        except OSError:
            continue
        for name in names:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            size = st.st_size
            mtime = st.st_mtime_ns
            if os.path.islink(path):
                # A changed target with an unchanged link must count too.
                try:
                    target = os.stat(path)
                    size, mtime = target.st_size, target.st_mtime_ns
                except OSError:
                    pass
            entries.append((path, st.st_mode, size, mtime, st.st_ino))
            if os.path.isdir(path) and not os.path.islink(path):
                stack.append(path)
    return tuple(sorted(entries))


class Watcher:
    def __init__(
        self,
        root: str,
        on_change: Callable[[], None],
        use_watchdog: bool = True,
        debounce: float = DEBOUNCE,
        max_delay: float = MAX_DELAY,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.root = root
        self.on_change = on_change
        self.use_watchdog = use_watchdog
        self.debounce = debounce
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self.mode = POLLING
        self.reason = ""
        self._kick = threading.Event()
        self._stopped = threading.Event()
        self._observer: Optional[object] = None
        self._last: Fingerprint = ()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> str:
        """Start watching; returns the mode (watchdog or polling)."""
        self._last = fingerprint(self.root)
        if self.use_watchdog:
            self._start_watchdog()
        self._thread.start()
        return self.mode

    def _start_watchdog(self) -> None:
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError as exc:
            self.reason = f"watchdog unavailable ({exc})"
            return
        kick = self._kick

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                if getattr(event, "event_type", "") not in IGNORED_EVENTS:
                    kick.set()

        try:
            observer = Observer()
            observer.schedule(Handler(), self.root, recursive=True)
            observer.daemon = True
            observer.start()
        except (OSError, RuntimeError, ValueError) as exc:
            # No directory yet, inotify watch limit reached, ...: polling still works.
            self.reason = f"cannot watch {self.root}: {exc}"
            return
        self._observer = observer
        self.mode = WATCHDOG

    def stop(self) -> None:
        self._stopped.set()
        self._kick.set()
        observer = self._observer
        if observer is not None:
            observer.stop()  # type: ignore[attr-defined]
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # -- the worker ------------------------------------------------------------------

    def _run(self) -> None:
        wait = self.poll_interval if self.mode == POLLING else RESCAN
        while not self._stopped.is_set():
            self._kick.wait(wait)
            if self._stopped.is_set():
                return
            self._kick.clear()
            current = fingerprint(self.root)
            if current == self._last:
                continue
            current = self._settle(current)
            if self._stopped.is_set():
                return
            if current != self._last:
                self._last = current
                self.on_change()

    def _settle(self, current: Fingerprint) -> Fingerprint:
        """Wait until the tree stops changing for `debounce` seconds (or max_delay)."""
        deadline = time.monotonic() + self.max_delay
        while time.monotonic() < deadline and not self._stopped.is_set():
            self._kick.clear()
            self._stopped.wait(min(self.debounce, max(0.0, deadline - time.monotonic())))
            later = fingerprint(self.root)
            if later == current:
                return later
            current = later
        return current
