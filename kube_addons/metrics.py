"""`--metrics-addr HOST:PORT`: Prometheus metrics and a liveness endpoint.

Fed only from the outside of a pass: Kubectl's `on_result` hook (every call) and the
loop's `on_pass` callback (every PassReport), so the pass itself knows nothing of it.
`/healthz` answers 200 while the last pass finished within three intervals (or this
process is not the leader, so it has nothing to do), 503 otherwise: a wedged loop gets
the static pod restarted by the kubelet.
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Optional

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from kube_addons.kubectl import Result

HEALTH_INTERVALS = 3
PASS_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
OPERATIONS = ("created", "configured", "unchanged", "pruned")


def parse_addr(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (all interfaces) or `[V6]:PORT`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--metrics-addr must be HOST:PORT, got {text!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def call_result(result: Result) -> str:
    if result.timed_out:
        return "timeout"
    if result.stopped:
        return "stopped"
    return "success" if result.ok else "failure"


def guard_names(report: Any) -> list[str]:
    """Guard trips recorded on a PassReport, whatever the guards work names the list
    (`decisions`, `guards`, or `plan.decisions`); items carry `.guard`."""
    for holder in (report, getattr(report, "plan", None)):
        for attr in ("decisions", "guards", "guard_decisions"):
            items = getattr(holder, attr, None)
            if isinstance(items, Iterable) and not isinstance(items, (str, bytes)):
                names = [getattr(item, "guard", None) for item in items]
                found = [name for name in names if isinstance(name, str)]
                if found:
                    return found
    return []


class Metrics:
    def __init__(
        self,
        interval: int,
        registry: Optional[CollectorRegistry] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.interval = interval
        self.registry = registry or CollectorRegistry()
        self.clock = clock
        self.started = clock()
        self.last_pass_end: Optional[float] = None
        self.leading = True  # until a pass says otherwise: the startup grace counts
        self._lock = threading.Lock()
        reg = self.registry
        self.passes = Counter(
            "kube_addons_passes", "Passes by result (success, failure, not_leader).",
            ["result"], registry=reg,
        )
        self.pass_duration = Histogram(
            "kube_addons_pass_duration_seconds", "Duration of passes that acted.",
            buckets=PASS_BUCKETS, registry=reg,
        )
        self.kubectl_calls = Counter(
            "kube_addons_kubectl_calls", "kubectl calls by verb and result.",
            ["verb", "result"], registry=reg,
        )
        self.kubectl_duration = Histogram(
            "kube_addons_kubectl_call_duration_seconds", "kubectl call durations by verb.",
            ["verb"], buckets=CALL_BUCKETS, registry=reg,
        )
        self.objects = Counter(
            "kube_addons_objects", "Objects kubectl reported per operation during passes.",
            ["operation"], registry=reg,
        )
        self.guard_trips = Counter(
            "kube_addons_guard_trips", "Safety guards that held something back, by guard.",
            ["guard"], registry=reg,
        )
        self.last_success = Gauge(
            "kube_addons_last_successful_pass_timestamp_seconds",
            "Unix time the last pass without a failed kubectl call finished.", registry=reg,
        )
        self.last_pass = Gauge(
            "kube_addons_last_pass_timestamp_seconds",
            "Unix time the last pass (of any result) finished.", registry=reg,
        )
        self.leader = Gauge(
            "kube_addons_leader", "1 while this process is the one that acts.", registry=reg,
        )
        for result in ("success", "failure", "not_leader"):
            self.passes.labels(result)
        for op in OPERATIONS:
            self.objects.labels(op)

    # -- hooks -------------------------------------------------------------------------

    def observe_call(self, result: Result) -> None:
        self.kubectl_calls.labels(result.verb, call_result(result)).inc()
        self.kubectl_duration.labels(result.verb).observe(result.duration)

    def observe_pass(self, report: Any) -> None:
        finished = report.finished or self.clock()
        with self._lock:
            self.last_pass_end = finished
            self.leading = bool(report.leader)
        self.last_pass.set(finished)
        self.leader.set(1 if report.leader else 0)
        if not report.leader:
            self.passes.labels("not_leader").inc()
            return
        self.pass_duration.observe(max(0.0, finished - report.started))
        for op in OPERATIONS:
            count = report.tally.ops.get(op, 0)
            if count:
                self.objects.labels(op).inc(count)
        for name in guard_names(report):
            self.guard_trips.labels(name).inc()
        if report.failed:
            self.passes.labels("failure").inc()
        else:
            self.passes.labels("success").inc()
            self.last_success.set(finished)

    def set_leader(self, leading: bool) -> None:
        """Lease election changes hands between passes; keep the gauge current."""
        with self._lock:
            self.leading = leading
        self.leader.set(1 if leading else 0)

    # -- health ------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        with self._lock:
            leading, last = self.leading, self.last_pass_end
        if not leading:
            return True, "ok: not the leader"
        window = HEALTH_INTERVALS * max(self.interval, 1)
        reference = last if last is not None else self.started
        age = self.clock() - reference
        what = "last pass finished" if last is not None else "started, no pass yet,"
        if age <= window:
            return True, f"ok: {what} {age:.0f}s ago"
        return False, f"stale: {what} {age:.0f}s ago (limit {window}s)"

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """/metrics and /healthz on one port, in a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        handler = _handler(metrics)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="metrics", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> "MetricsServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(metrics: Metrics) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/livez"):
                ok, text = metrics.health()
                self._send(200 if ok else 503, (text + "\n").encode(), "text/plain")
            else:
                self._send(404, b"not found: try /metrics or /healthz\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # scrapes every few seconds must not flood the addon log

    return Handler
