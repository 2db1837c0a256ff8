"""Log lines in upstream's `LEVEL: message` form, and kubectl's output passed through.

Upstream's pod sends stdout and stderr of the script and of every kubectl child to one
file, so every write is flushed at once: our lines must land before the output of the
kubectl call that follows them, and background threads must not tear lines.
"""
from __future__ import annotations

import datetime
import sys
import threading
from typing import Optional, TextIO

LEVELS = ("INFO", "WRN", "ERR")
SILENT_LEVELS = ("DBG", "DB2", "DB3")


def timestamp(now: Optional[datetime.datetime] = None) -> str:
    """`date -Is`: local time, seconds, numeric offset with a colon."""
    moment = now or datetime.datetime.now()
    return moment.astimezone().isoformat(timespec="seconds")


class Log:
    def __init__(self, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> None:
        self._out = out
        self._err = err
        self._lock = threading.Lock()

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def line(self, level: str, message: str) -> None:
        if level in SILENT_LEVELS:
            return
        prefix = level if level in LEVELS else f"INVALID_LOG_LEVEL {level}"
        self.write(f"{prefix}: {message}\n")

    def info(self, message: str) -> None:
        self.line("INFO", message)

    def warn(self, message: str) -> None:
        self.line("WRN", message)

    def error(self, message: str) -> None:
        self.line("ERR", message)

    def write(self, text: str, stderr: bool = False) -> None:
        """Pass text through unchanged (kubectl output), flushed at once."""
        if not text:
            return
        stream = self.err if stderr else self.out
        with self._lock:
            # Keep the two streams ordered when they share one file (the pod's log).
            (self.out if stderr else self.err).flush()
            stream.write(text)
            stream.flush()

    def lines(self, lines: list[str], stderr: bool = False) -> None:
        self.write("".join(line + "\n" for line in lines), stderr=stderr)
