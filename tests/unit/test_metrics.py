from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from kube_addons.guards import Decision
from kube_addons.kubectl import Result
from kube_addons.manager import PassReport
from kube_addons.metrics import Metrics, MetricsServer, guard_names, parse_addr
from kube_addons.output import Tally


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels or None) or 0.0


def report(leader=True, failed=False, ops=None, started=990.0, finished=1000.0, decisions=()):
    tally = Tally()
    tally.ops.update(ops or {})
    rep = PassReport(leader=leader, tally=tally, started=started, finished=finished)
    rep.decisions = list(decisions)
    if failed:
        from kube_addons.manager import CallReport
        rep.calls.append(CallReport("ensure", Result(("k",), 1, ""), ["boom"]))
    return rep


def test_calls_by_verb_and_result():
    m = Metrics(60)
    m.observe_call(Result(("kubectl", "--kubeconfig=x", "apply", "-f", "d"), 0, "", duration=0.5))
    m.observe_call(Result(("kubectl", "create", "-f", "d"), 1, ""))
    m.observe_call(Result(("kubectl", "get", "x"), 124, "", timed_out=True))
    assert value(m, "kube_addons_kubectl_calls_total", verb="apply", result="success") == 1
    assert value(m, "kube_addons_kubectl_calls_total", verb="create", result="failure") == 1
    assert value(m, "kube_addons_kubectl_calls_total", verb="get", result="timeout") == 1
    assert value(m, "kube_addons_kubectl_call_duration_seconds_sum", verb="apply") == 0.5


def test_passes_objects_guards_and_last_success():
    m = Metrics(60, clock=Clock())
    m.observe_pass(report(ops={"created": 2, "pruned": 1},
                          decisions=[Decision("blast-radius", "WRN", "held")]))
    m.observe_pass(report(failed=True, finished=1010.0))
    m.observe_pass(report(leader=False))
    assert value(m, "kube_addons_passes_total", result="success") == 1
    assert value(m, "kube_addons_passes_total", result="failure") == 1
    assert value(m, "kube_addons_passes_total", result="not_leader") == 1
    assert value(m, "kube_addons_objects_total", operation="created") == 2
    assert value(m, "kube_addons_objects_total", operation="pruned") == 1
    assert value(m, "kube_addons_guard_trips_total", guard="blast-radius") == 1
    assert value(m, "kube_addons_last_successful_pass_timestamp_seconds") == 1000.0
    assert value(m, "kube_addons_pass_duration_seconds_count") == 2
    assert value(m, "kube_addons_leader") == 0


def test_health_window_is_three_intervals():
    clock = Clock()
    m = Metrics(10, clock=clock)
    assert m.health()[0]  # startup grace
    clock.now += 31
    assert not m.health()[0]
    m.observe_pass(report(finished=clock.now))
    clock.now += 30
    assert m.health()[0]
    clock.now += 1
    ok, text = m.health()
    assert not ok and "limit 30s" in text
    m.set_leader(False)
    assert m.health() == (True, "ok: not the leader")


def test_guard_names_tolerates_reports_without_guards():
    assert guard_names(object()) == []


@pytest.mark.parametrize("text,addr", [("127.0.0.1:9102", ("127.0.0.1", 9102)),
                                       (":9102", ("0.0.0.0", 9102)),
                                       ("[::1]:80", ("::1", 80))])
def test_parse_addr(text, addr):
    assert parse_addr(text) == addr


@pytest.mark.parametrize("text", ["9102", "host:", "host:port", "h:99999"])
def test_parse_addr_rejects(text):
    with pytest.raises(ValueError):
        parse_addr(text)


def test_http_endpoints():
    clock = Clock()
    m = Metrics(1, clock=clock)
    server = MetricsServer(m, "127.0.0.1", 0).start()
    base = "http://%s:%d" % server.address
    try:
        body = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
        assert "kube_addons_passes_total" in body
        assert urllib.request.urlopen(base + "/healthz", timeout=5).status == 200
        clock.now += 10
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/healthz", timeout=5)
        assert err.value.code == 503
    finally:
        server.stop()
