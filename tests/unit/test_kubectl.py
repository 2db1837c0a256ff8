from __future__ import annotations

import json
import threading
import time

import pytest

from kube_addons.kubectl import (
    ALLOWLIST_FLAG, TIMEOUT_EXIT, WHITELIST_FLAG, Kubectl, KubectlError, Result,
    parse_version, prune_flag_for,
)


def test_argv_puts_opts_right_after_binary(fake):
    kubectl = Kubectl(fake.path, ["--kubeconfig=/etc/my dir/kc", "-v=0"])
    kubectl.run("get", "pods")
    assert fake.calls() == [["--kubeconfig=/etc/my dir/kc", "-v=0", "get", "pods"]]


def test_captures_streams_exit_code_and_stdin(fake):
    fake.on("apply", stdout="configmap/a created\n", stderr="warn\n", code=3)
    result = Kubectl(fake.path).run("apply", "-f", "-", stdin="kind: ConfigMap\n")
    assert (result.exit_code, result.stdout, result.stderr) == (
        3, "configmap/a created\n", "warn\n")
    assert fake.stdins() == ["kind: ConfigMap\n"]
    assert result.verb == "apply"


def test_merge_puts_stderr_into_stdout(fake):
    fake.on("create", stdout="a\n", stderr="b\n", code=1)
    result = Kubectl(fake.path).run("create", merge=True)
    assert sorted(result.stdout.splitlines()) == ["a", "b"]
    assert result.stderr == ""


def test_check_raises_one_error_carrying_everything(fake):
    fake.on("get", stdout="out-text\n", stderr="err-text\n", code=1)
    with pytest.raises(KubectlError) as info:
        Kubectl(fake.path).run("get", "x", check=True)
    err = info.value
    assert err.result.exit_code == 1
    assert "exit code 1" in str(err) and "out-text" in str(err) and "err-text" in str(err)
    assert "get x" in str(err)


def test_timeout_kills_the_process(fake):
    fake.on("get", sleep=30)
    start = time.monotonic()
    result = Kubectl(fake.path, timeout=0.5).run("get", "x")
    assert time.monotonic() - start < 5
    assert result.timed_out and result.exit_code == TIMEOUT_EXIT
    assert "timed out" in str(KubectlError(result))


def test_stop_ends_running_calls_and_refuses_new_ones(fake):
    fake.on("get", sleep=30)
    kubectl = Kubectl(fake.path)
    threading.Timer(0.3, kubectl.stop).start()
    start = time.monotonic()
    result = kubectl.run("get", "x")
    assert time.monotonic() - start < 5
    assert result.stopped and not result.ok
    assert kubectl.run("get", "y").stopped


def test_missing_binary_is_a_result_not_a_traceback(tmp_path):
    result = Kubectl(str(tmp_path / "nope")).run("get")
    assert result.exit_code == 127
    assert "nope" in result.stderr


def test_on_result_sees_every_call(fake):
    seen: list[Result] = []
    kubectl = Kubectl(fake.path, on_result=seen.append)
    kubectl.run("get", "a")
    kubectl.run("apply", "-f", "x")
    assert [r.verb for r in seen] == ["get", "apply"]


@pytest.mark.parametrize("text,expected", [
    (json.dumps({"clientVersion": {"major": "1", "minor": "32+", "gitVersion": "v1.32.2"}}),
     (1, 32)),
    (json.dumps({"clientVersion": {"major": "", "minor": "", "gitVersion": "v1.25.4"}}), (1, 25)),
    ("Client Version: v1.29.1\nKustomize Version: v5.0.4\n", (1, 29)),
    ('Client Version: version.Info{Major:"1", Minor:"9", GitVersion:"v1.9.3"}', (1, 9)),
    ("garbage", None),
])
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("version,flag", [
    ((1, 9), WHITELIST_FLAG), ((1, 25), WHITELIST_FLAG), ((1, 26), ALLOWLIST_FLAG),
    ((1, 32), ALLOWLIST_FLAG), ((1, 37), ALLOWLIST_FLAG), (None, ALLOWLIST_FLAG),
])
def test_prune_flag_by_version(version, flag):
    assert prune_flag_for(version) == flag


def test_version_detected_once(fake):
    fake.version(25)
    kubectl = Kubectl(fake.path)
    assert kubectl.prune_flag() == WHITELIST_FLAG
    assert kubectl.prune_flag() == WHITELIST_FLAG
    assert len([c for c in fake.calls(skip_version=False) if "version" in c]) == 1
