"""The benchmark harness's pure parts: generator, metrics deltas, summaries, ratio line."""
from __future__ import annotations

import argparse
import re

import pytest
import yaml

from bench import apimetrics, generate, procstat, report
from bench.cli import SMALL_MAX, final_line, pass_plan, parse_sizes
from bench.report import EXACT, OPTIMISED, Block

# -- generator ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [60, 300, 1000])
def test_generator_counts_kinds_and_ensure_share(size: int) -> None:
    namespaces = generate.namespaces_for(size)
    objs = generate.generate(size, namespaces)
    info = generate.counts(objs)
    assert info["objects"] == size
    assert set(info["by_kind"]) == set(generate.KINDS)
    # Kinds are dealt round-robin: no kind more than one above another.
    assert max(info["by_kind"].values()) - min(info["by_kind"].values()) <= 1
    assert info["ensure_exists"] == size // 5  # 20 %
    assert info["namespaces"] == sorted(namespaces) and len(namespaces) == 3
    secrets = info["by_kind"]["Secret"]
    assert 0 < info["string_data_secrets"] < secrets
    # EnsureExists is spread over the kinds, not bunched in one.
    ensure_kinds = {o.kind for o in objs if o.mode == generate.ENSURE_EXISTS}
    assert ensure_kinds == set(generate.KINDS)


def test_generator_labels_and_unique_identities() -> None:
    objs = generate.generate(300, generate.namespaces_for(300))
    idents = {(o.kind, o.namespace, o.name) for o in objs}
    assert len(idents) == len(objs)
    for o in objs:
        meta = o.doc["metadata"]
        assert meta["labels"][generate.MODE_LABEL] == o.mode
        assert (meta["name"], meta["namespace"], o.doc["kind"]) == (o.name, o.namespace, o.kind)
    # An addon stays in one namespace (the RoleBinding names its ServiceAccount there).
    by_addon: dict[int, set[str]] = {}
    for o in objs:
        by_addon.setdefault(o.addon, set()).add(o.namespace)
    assert all(len(v) == 1 for v in by_addon.values())
    # Half the Services are headless: the dev cluster has 254 service addresses.
    services = [o for o in objs if o.kind == "Service"]
    assert sum(1 for s in services if s.doc["spec"].get("clusterIP") == "None") \
        == len(services) // 2


def test_write_addons_round_trips_and_set_value(tmp_path) -> None:
    objs = generate.generate(60, generate.namespaces_for(60))
    files = generate.write_addons(tmp_path, objs)
    assert len(files) == len({o.addon for o in objs}) == 9
    docs = [d for f in files for d in yaml.safe_load_all(f.read_text())]
    assert len(docs) == 60
    target = generate.latency_target(objs)
    assert target.kind == "ConfigMap" and target.mode == generate.RECONCILE
    path = generate.set_value(tmp_path, objs, target, "changed")
    written = [d for d in yaml.safe_load_all(path.read_text())
               if d["kind"] == "ConfigMap" and d["metadata"]["name"] == target.name]
    assert written[0]["data"][generate.LATENCY_KEY] == "changed"
    assert sum(1 for _ in yaml.safe_load_all(path.read_text())) == generate.ADDON_SIZE


def test_generator_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        generate.generate(5, [])


# -- apiserver metrics ----------------------------------------------------------------------

LINE = ('apiserver_request_total{{code="{code}",component="apiserver",dry_run="",group="{g}",'
        'resource="{r}",scope="resource",subresource="{s}",verb="{v}",version="v1"}} {n}')


def metrics_text(rows: list[tuple[str, str, str, str, str, float]]) -> str:
    lines = ["# HELP apiserver_request_total Counter of apiserver requests",
             "# TYPE apiserver_request_total counter",
             'apiserver_request_duration_seconds_bucket{verb="GET",le="0.1"} 99']
    lines += [LINE.format(code=c, g=g, r=r, s=s, v=v, n=n) for c, g, r, s, v, n in rows]
    return "\n".join(lines) + "\n"


def test_parse_request_totals_reads_only_the_counter() -> None:
    text = metrics_text([("200", "", "configmaps", "", "GET", 5),
                         ("404", "", "configmaps", "", "GET", 2),
                         ("200", "apps", "deployments", "", "PATCH", 1e3)])
    parsed = apimetrics.parse_request_totals(text)
    assert len(parsed) == 3
    assert sorted(parsed.values()) == [2.0, 5.0, 1000.0]


def test_parse_handles_escaped_quotes_and_nonresource() -> None:
    text = ('apiserver_request_total{code="200",component="",group="",resource="",'
            'subresource="/openapi/v3",verb="GET",x="a\\"b"} 7\n')
    parsed = apimetrics.parse_request_totals(text)
    (labels, value), = parsed.items()
    assert dict(labels)["x"] == 'a\\"b' and value == 7
    assert apimetrics.series_key(labels) == ("GET", "/openapi/v3")


def test_delta_by_verb_and_resource_new_series_reset_and_excluded() -> None:
    before = apimetrics.parse_request_totals(metrics_text([
        ("200", "", "configmaps", "", "GET", 5),
        ("404", "", "configmaps", "", "GET", 2),
        ("200", "", "secrets", "", "PATCH", 10),
        ("200", "", "", "/metrics", "GET", 3),
        ("200", "", "namespaces", "status", "PUT", 1),
    ]))
    after = apimetrics.parse_request_totals(metrics_text([
        ("200", "", "configmaps", "", "GET", 9),     # +4
        ("404", "", "configmaps", "", "GET", 3),     # +1, other code: summed with the above
        ("200", "", "secrets", "", "PATCH", 4),      # went down: apiserver restart, counts 4
        ("200", "", "", "/metrics", "GET", 5),       # our scrapes: left out
        ("200", "", "namespaces", "status", "PUT", 1),  # no change: absent
        ("200", "apps", "deployments", "", "LIST", 3),  # new series
    ]))
    d = apimetrics.delta(before, after)
    assert d == {("GET", "configmaps"): 5.0, ("PATCH", "secrets"): 4.0,
                 ("LIST", "deployments"): 3.0}
    assert apimetrics.total(d) == 12.0
    assert apimetrics.by_verb(d) == {"GET": 5.0, "PATCH": 4.0, "LIST": 3.0}


def test_idle_subtraction_and_per_pass() -> None:
    block = {("PUT", "leases"): 10.0, ("GET", "configmaps"): 40.0, ("GET", "leases"): 1.0}
    idle = apimetrics.rates({("PUT", "leases"): 6.0, ("GET", "leases"): 3.0}, 12.0)
    assert idle == {("PUT", "leases"): 0.5, ("GET", "leases"): 0.25}
    left = apimetrics.subtract_idle(block, idle, 10.0)
    # 10 - 0.5*10 = 5; 1 - 2.5 < 0 is dropped (never negative); configmaps untouched.
    assert left == {("PUT", "leases"): 5.0, ("GET", "configmaps"): 40.0}
    assert apimetrics.per_pass(left, 10) == {("PUT", "leases"): 0.5, ("GET", "configmaps"): 4.0}
    assert apimetrics.per_pass(left, 0) == {}
    assert apimetrics.rates(block, 0) == {}


def test_steady_idle_takes_the_lower_rate_and_apply_idle() -> None:
    from bench.steady import apply_idle, steady_idle

    before = {("PUT", "leases"): 0.5, ("GET", "/api"): 0.4}  # a burst of discovery
    after = {("PUT", "leases"): 0.6}
    assert steady_idle(before, after) == {("PUT", "leases"): 0.5}
    assert steady_idle() == {}
    b = Block(60, EXACT, walls=[1.0, 1.0])
    b.raw_requests, b.seconds = {("PUT", "leases"): 12.0, ("GET", "/api"): 4.0}, 20.0
    apply_idle(b, steady_idle(before, after))
    assert b.requests == {("PUT", "leases"): 1.0, ("GET", "/api"): 2.0}


# -- summaries and the ratio line -----------------------------------------------------------

RATIO_RE = re.compile(r"^steady-pass ratio optimised/exact at 300 objects: "
                      r"wall \d+\.\d\d, requests \d+\.\d\d$")


def block(size: int, mode: str, walls: list[float], requests: float) -> Block:
    b = Block(size, mode, walls=walls, cpu=[0.5] * len(walls), kubectl=[3] * len(walls))
    b.requests = {("GET", "configmaps"): requests}
    return b


def test_ratio_line_format() -> None:
    line = report.ratio_line(300, 0.123, 0.456)
    assert line == "steady-pass ratio optimised/exact at 300 objects: wall 0.12, requests 0.46"
    assert RATIO_RE.match(line)
    assert report.ratio_line(300, None, 0.5).endswith("wall n/a, requests 0.50")


def test_final_line_uses_medians_and_request_totals() -> None:
    blocks = [block(60, EXACT, [4, 5, 6], 100), block(60, OPTIMISED, [1, 1, 1], 10),
              block(300, EXACT, [10, 20, 30, 40, 1000], 400),
              block(300, OPTIMISED, [2, 3, 5, 6, 100], 100)]
    line = final_line(blocks, [60, 300])
    # medians 5 / 30, requests 100 / 400
    assert line == "steady-pass ratio optimised/exact at 300 objects: wall 0.17, requests 0.25"
    assert RATIO_RE.match(line)


def test_final_line_without_300_names_the_largest_size_and_copes_with_nothing() -> None:
    blocks = [block(60, EXACT, [4.0], 100), block(60, OPTIMISED, [1.0], 50)]
    assert final_line(blocks, [60]) == (
        "steady-pass ratio optimised/exact at 60 objects: wall 0.25, requests 0.50")
    assert final_line([], [60]) == (
        "steady-pass ratio optimised/exact at 60 objects: wall n/a, requests n/a")
    assert report.ratio_size([]) == 300


def test_summary_growth_millicores_and_tables() -> None:
    assert report.summary([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0,
                                               "mean": 2.0}
    assert report.summary([])["median"] is None
    small, large = block(60, OPTIMISED, [1.0], 10), block(1000, OPTIMISED, [8.0], 100)
    g = report.growth(small, large)
    assert g["wall"] == 8.0 and g["requests"] == 10.0 and round(g["objects"], 2) == 16.67
    assert report.millicores(0.3) == pytest.approx(5.0)
    assert report.millicores(0.3, idle_millicores=1.0) == pytest.approx(6.0)
    assert report.millicores(None) is None
    blocks = [block(60, EXACT, [4.0, 6.0], 100), block(60, OPTIMISED, [1.0, 1.0], 20)]
    steady = report.steady_table(blocks)
    assert "| 60 | exact | 2 | 5.00 | 4.00 | 6.00 | 100.0 | 3.0 | 0.50 |" in steady
    assert "| 60 | 0.20 | 0.20 | 1.00 | 1.00 |" in report.ratio_table(blocks)
    req = report.requests_table(blocks)
    assert "| GET configmaps | 100.0 | 20.0 |" in req and "| **total** | 100.0 | 20.0 |" in req
    assert report.block_json(blocks[0])["api_requests_per_pass_by_verb_resource"] == {
        "GET configmaps": 100.0}


# -- options and /proc ----------------------------------------------------------------------


def test_parse_sizes_and_pass_plan() -> None:
    assert parse_sizes("300, 60,1000") == [60, 300, 1000]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_sizes("0")
    args = argparse.Namespace(steady_passes=10, large_exact_passes=3, large_block_seconds=120)
    assert pass_plan(args, SMALL_MAX, EXACT) == (10, 10, float("inf"))
    assert pass_plan(args, 1000, EXACT) == (3, 3, float("inf"))
    assert pass_plan(args, 1000, OPTIMISED) == (10, 3, 120.0)


def test_proc_parsers() -> None:
    status = "Name:\tpython3\nVmHWM:\t   40000 kB\nVmRSS:\t   31000 kB\n"
    assert procstat.parse_status_kib(status, "VmRSS") == 31000
    assert procstat.parse_status_kib(status, "VmSwap") is None
    # pid (comm with ") " inside) state ppid ... utime=14 stime=15 cutime=16 cstime=17
    stat = "42 (odd) name) S 1 42 42 0 -1 4194304 100 0 0 0 150 50 200 100 20 0 1 0 5"
    assert procstat.parse_stat_cpu(stat, clk_tck=100) == pytest.approx(5.0)


def test_amortised_ratio_counts_the_full_pass():
    from bench.report import amortised

    assert amortised(1.0, 10.0) == pytest.approx((9 * 1.0 + 10.0) / 10 / 10.0)
    assert amortised(None, 10.0) is None and amortised(1.0, 0.0) is None
