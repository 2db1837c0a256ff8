"""`--log-format json`: the same log, one JSON object per line, for log pipelines.

Text mode is `logs.Log` untouched (byte-compatible with upstream). JSON mode keeps the
same two streams and the same order; each line becomes
`{"ts": ..., "level": ..., "msg": ..., <fields>}`. Our own lines carry the pass id;
kubectl's output lines also carry the call they came from (verb, class, exit code,
duration) and `"stream": "stdout"|"stderr"`.
"""
from __future__ import annotations

import datetime
import json
import threading
from typing import Any, Callable, Optional, TextIO

from kube_addons.kubectl import Result
from kube_addons.logs import SILENT_LEVELS, Log
from kube_addons.output import split_lines
from kube_addons.profiles import DEPRECATED_SELECTOR, ENSURE_SELECTOR, RECONCILE_SELECTOR

TEXT = "text"
JSON = "json"
FORMATS = (TEXT, JSON)

# Upstream's three-letter levels, spelled the way log pipelines recognise them.
LEVEL_NAMES = {"INFO": "INFO", "WRN": "WARN", "ERR": "ERROR"}

_SELECTOR_CLASSES = {
    ENSURE_SELECTOR: "EnsureExists",
    DEPRECATED_SELECTOR: "Deprecated",
    RECONCILE_SELECTOR: "Reconcile",
}


def call_class(argv: tuple[str, ...]) -> str:
    """The addon class a pass call works on, read from its `-l` selector ("" if none)."""
    for flag, value in zip(argv, argv[1:]):
        if flag == "-l":
            return _SELECTOR_CLASSES.get(value, "")
    return ""


def utc_timestamp(now: Optional[datetime.datetime] = None) -> str:
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


class JsonLog(Log):
    def __init__(
        self,
        out: Optional[TextIO] = None,
        err: Optional[TextIO] = None,
        clock: Callable[[], str] = utc_timestamp,
    ) -> None:
        super().__init__(out, err)
        self._clock = clock
        # Per thread: the pass loop and the admission-control threads log concurrently.
        self._local = threading.local()

    # -- context ---------------------------------------------------------------------

    def _fields(self, name: str) -> dict[str, Any]:
        fields = getattr(self._local, name, None)
        if fields is None:
            fields = {}
            setattr(self._local, name, fields)
        return fields

    def bind(self, **fields: Any) -> None:
        """Fields on every following line of this thread (None removes one)."""
        ctx = self._fields("ctx")
        for key, value in fields.items():
            if value is None:
                ctx.pop(key, None)
            else:
                ctx[key] = value

    def observe_call(self, result: Result) -> None:
        """Kubectl's on_result hook: one record per call; its output lines that follow
        carry the same fields."""
        call = {
            "verb": result.verb,
            "exit_code": result.exit_code,
            "duration": round(result.duration, 3),
        }
        cls = call_class(result.argv)
        if cls:
            call["class"] = cls
        if result.timed_out:
            call["timed_out"] = True
        self._local.call = call
        self._emit("INFO", f"kubectl {result.verb} exited {result.exit_code}", call, False)

    # -- output ----------------------------------------------------------------------

    def _emit(self, level: str, msg: str, extra: dict[str, Any], stderr: bool) -> None:
        record: dict[str, Any] = {"ts": self._clock(), "level": level, "msg": msg}
        record.update(self._fields("ctx"))
        record.update(extra)
        Log.write(self, json.dumps(record, ensure_ascii=False) + "\n", stderr=stderr)

    def line(self, level: str, message: str) -> None:
        if level in SILENT_LEVELS:
            return
        self._local.call = None  # our own line: the previous call's output is over
        self._emit(LEVEL_NAMES.get(level, level), message, {}, False)

    def write(self, text: str, stderr: bool = False) -> None:
        call = getattr(self._local, "call", None) or {}
        stream = {"stream": "stderr" if stderr else "stdout", **call}
        for raw in split_lines(text):
            self._emit("INFO", raw, stream, stderr)

    def record(self, level: str, message: str, **fields: Any) -> None:
        """A line with extra fields (summaries); text mode has no equivalent."""
        self._emit(LEVEL_NAMES.get(level, level), message, fields, False)


def make_log(fmt: str) -> Log:
    return JsonLog() if fmt == JSON else Log()
