from __future__ import annotations

import io
import json

from kube_addons.jsonlog import JsonLog, call_class, make_log
from kube_addons.kubectl import Result
from kube_addons.logs import Log
from kube_addons.profiles import ENSURE_SELECTOR, RECONCILE_SELECTOR


def records(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def make():
    out, err = io.StringIO(), io.StringIO()
    return JsonLog(out, err, clock=lambda: "T"), out, err


def test_text_mode_is_the_plain_log():
    assert type(make_log("text")) is Log


def test_levels_and_silent_levels():
    log, out, _err = make()
    log.info("hello")
    log.warn("careful")
    log.error("bad")
    log.line("DBG", "never")
    assert records(out) == [
        {"ts": "T", "level": "INFO", "msg": "hello"},
        {"ts": "T", "level": "WARN", "msg": "careful"},
        {"ts": "T", "level": "ERROR", "msg": "bad"},
    ]


def test_kubectl_output_carries_its_call_and_stream():
    log, out, err = make()
    log.bind(pass_id=7)
    argv = ("kubectl", "apply", "-f", "/a", "-l", RECONCILE_SELECTOR, "--prune=true")
    log.observe_call(Result(argv, 1, "", duration=1.23456))
    log.write("error: one\n", stderr=True)
    log.lines(["configmap/a created", "configmap/b unchanged"])
    log.info("done")
    call = {"verb": "apply", "exit_code": 1, "duration": 1.235, "class": "Reconcile"}
    assert records(err) == [{"ts": "T", "level": "INFO", "msg": "error: one", "pass_id": 7,
                             "stream": "stderr", **call}]
    outs = records(out)
    assert outs[0] == {"ts": "T", "level": "INFO", "msg": "kubectl apply exited 1",
                       "pass_id": 7, **call}
    assert [r["msg"] for r in outs[1:]] == ["configmap/a created", "configmap/b unchanged",
                                           "done"]
    assert outs[1]["stream"] == "stdout" and outs[1]["class"] == "Reconcile"
    assert outs[3] == {"ts": "T", "level": "INFO", "msg": "done", "pass_id": 7}
    log.bind(pass_id=None)
    log.info("between passes")
    assert records(out)[-1] == {"ts": "T", "level": "INFO", "msg": "between passes"}


def test_call_class_from_selector():
    assert call_class(("k", "create", "-f", "x", "-l", ENSURE_SELECTOR)) == "EnsureExists"
    assert call_class(("k", "get", "lease")) == ""


def test_unicode_and_quotes_stay_one_line():
    log, out, _err = make()
    log.write('weird "line" é\twith tab\n')
    assert records(out)[0]["msg"] == 'weird "line" é\twith tab'
    assert len(out.getvalue().splitlines()) == 1
