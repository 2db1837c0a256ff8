"""The Lease algorithm against an in-memory API server with resourceVersion checks."""
from __future__ import annotations

import json

import pytest

from kube_addons.election import (
    ElectionError,
    LeaseElector,
    check_timing,
    lease_object,
    parse_lease,
    parse_lease_name,
)
from kube_addons.kubectl import Result


class FakeServer:
    """Just enough of `kubectl get/create/replace` on one Lease."""

    def __init__(self) -> None:
        self.obj = None
        self.rv = 0
        self.down = False
        self.calls: list[tuple[str, ...]] = []

    def run(self, *args: str, stdin=None, timeout=None, **_kw) -> Result:
        self.calls.append(args)
        argv = ("kubectl", *args)
        if self.down:
            return Result(argv, 1, "", "Unable to connect to the server\n")
        verb = args[2]
        if verb == "get":
            if self.obj is None:
                return Result(argv, 1, "", 'Error from server (NotFound): leases "x" not found\n')
            return Result(argv, 0, json.dumps(self.obj))
        new = json.loads(stdin)
        if verb == "create":
            if self.obj is not None:
                return Result(argv, 1, "", "Error from server (AlreadyExists): exists\n")
        elif verb == "replace":
            if new["metadata"].get("resourceVersion") != self.obj["metadata"]["resourceVersion"]:
                return Result(argv, 1, "", "Error from server (Conflict): the object has been "
                              "modified; please apply your changes to the latest version\n")
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        self.obj = new
        return Result(argv, 0, json.dumps(new))

    @property
    def holder(self) -> str:
        return self.obj["spec"]["holderIdentity"] if self.obj else ""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(server, log, clock, name, **kw) -> LeaseElector:
    return LeaseElector(server, log, name, "kube-system/kube-addons", duration=15,
                        renew_period=5, clock=clock, **kw)


@pytest.fixture
def world(log):
    server, clock = FakeServer(), Clock()
    a = elector(server, log, clock, "a_1")
    b = elector(server, log, clock, "b_2")
    return server, clock, a, b


def test_first_candidate_creates_the_lease_and_leads(world):
    server, _clock, a, b = world
    assert a.try_once() is True
    assert server.holder == "a_1"
    assert server.obj["spec"]["leaseDurationSeconds"] == 15
    assert b.try_once() is False
    assert a.is_leader() and not b.is_leader()


def test_holder_renews_with_one_call_and_a_precondition(world):
    server, clock, a, _b = world
    a.try_once()
    server.calls.clear()
    clock.now += 5
    assert a.try_once() is True
    assert [c[2] for c in server.calls] == ["replace"]
    assert server.obj["metadata"]["resourceVersion"] == "2"


def test_candidate_waits_duration_less_renew_period_on_its_own_clock(world):
    server, clock, a, b = world
    a.try_once()
    assert b.try_once() is False
    # a stopped renewing (crashed). a itself stops acting duration - renew_period after its
    # last write, and b saw that write at most one renew period late: b takes over 10 s
    # after seeing it, so a crashed holder is replaced within one lease duration.
    clock.now += 9
    assert b.try_once() is False
    clock.now += 1
    assert b.try_once() is True
    assert server.holder == "b_2"
    assert server.obj["spec"]["leaseTransitions"] == 1


def test_renewals_keep_the_candidate_out(world):
    _server, clock, a, b = world
    a.try_once()
    for _ in range(6):
        clock.now += 5
        assert a.try_once() is True
        assert b.try_once() is False


def test_stale_write_loses_on_conflict(world, log):
    server, clock, a, b = world
    a.try_once()
    b.try_once()
    clock.now += 16
    # a's renewal races b's takeover: b read first, a writes first.
    record, _ = b._get()
    b._observe(record, clock.now - 16)
    assert a.try_once() is True
    assert b._take_over(record, clock.now) is False
    assert server.holder == "a_1"


def test_leader_steps_down_before_anyone_may_take_over(world):
    server, clock, a, _b = world
    a.try_once()
    server.down = True
    clock.now += 5
    assert a.try_once() is True  # one failed renewal is tolerated
    clock.now += 5.5  # duration - renew_period = 10 s since the last renewal
    a.try_once()
    assert a.is_leader() is False


def test_release_hands_over_at_the_next_try(world):
    server, clock, a, b = world
    a.try_once()
    a.stop(release=True)
    assert server.holder == ""
    assert b.try_once() is True


def test_someone_else_took_over(world, log):
    server, clock, a, b = world
    a.try_once()
    server.obj["spec"]["holderIdentity"] = "c_3"
    server.rv += 1
    server.obj["metadata"]["resourceVersion"] = str(server.rv)
    clock.now += 5
    assert a.try_once() is False
    assert "Lost lease kube-system/kube-addons (holder: c_3)" in log.text


def test_check_logs_like_the_kcm_election(world, log):
    _server, _clock, a, b = world
    a.try_once()
    b.try_once()
    assert a.check(log) and not b.check(log)
    assert "INFO: Leader is a_1\n" in log.text
    assert "INFO: Leader is a_1, not b_2\n" in log.text


def test_lease_object_and_parse_round_trip():
    obj = lease_object("ns", "n", "me", 15, "t1", "t2", 3, "42")
    record = parse_lease(json.dumps(obj))
    assert (record.holder, record.duration, record.transitions, record.resource_version) == (
        "me", 15.0, 3, "42")
    assert "resourceVersion" not in lease_object("ns", "n", "me", 15, "t", "t", 0)["metadata"]


@pytest.mark.parametrize("text", ["kube-addons", "/x", "ns/", "a/b/c"])
def test_bad_lease_names(text):
    with pytest.raises(ElectionError):
        parse_lease_name(text)


def test_renew_period_must_be_shorter_than_duration():
    with pytest.raises(ElectionError):
        check_timing(5, 5)
    check_timing(15, 5)
