"""CLI surface of plan, diff, validate and the new run flags (no cluster)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kube_addons.cli import cli


def invoke(args, env=None):
    env = {"KUBE_ADDONS_GUARDS": "off", **(env or {})}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize("command", ["plan", "diff", "validate", "run", "once"])
def test_every_help_has_an_example(command):
    result = invoke([command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_run_help_names_the_new_env_vars():
    text = " ".join(invoke(["run", "--help"]).output.split())
    for env in ("KUBE_ADDONS_WATCH", "KUBE_ADDONS_METRICS_ADDR", "KUBE_ADDONS_LOG_FORMAT",
                "KUBE_ADDONS_LEASE", "KUBE_ADDONS_LEASE_DURATION",
                "KUBE_ADDONS_LEASE_RENEW_PERIOD"):
        assert f"(env: {env})" in text, env


def test_plan_usage_error_is_exit_1_not_changes_pending():
    assert invoke(["plan", "--no-such-flag"]).exit_code == 1


def test_plan_config_error_is_exit_1(tmp_path):
    assert invoke(["plan"], {"KUBECTL_BIN": str(tmp_path / "none")}).exit_code == 1


def test_watch_needs_loop(fake):
    result = invoke(["run", "--watch"], {"KUBECTL_BIN": fake.path})
    assert result.exit_code == 2 and "--watch needs --loop" in result.output


def test_lease_timing_is_checked(fake):
    result = invoke(["run", "--leader-election", "lease", "--lease-duration", "5",
                     "--lease-renew-period", "5"], {"KUBECTL_BIN": fake.path})
    assert result.exit_code == 2 and "shorter than the lease duration" in result.output


def test_leader_election_env_accepts_lease():
    from kube_addons.config import LEADER_LEASE, parse_leader_election
    assert parse_leader_election("lease") == (LEADER_LEASE, None)


def test_validate_needs_no_kubectl(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n")
    result = invoke(["validate", str(tmp_path)], {"KUBECTL_BIN": str(tmp_path / "none")})
    assert result.exit_code == 0, result.output
    assert "warning: ConfigMap/n/a: no addonmanager.kubernetes.io/mode label" in result.output
    assert invoke(["validate", "--strict", str(tmp_path)]).exit_code == 1
    doc = json.loads(invoke(["validate", "-o", "json", str(tmp_path)]).output)
    assert doc["exit_code"] == 0 and len(doc["warnings"]) == 1


def test_validate_defaults_to_addon_path(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [\n")
    result = invoke(["validate"], {"ADDON_PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert f"{tmp_path}/bad.yaml:" in result.output


def test_once_json_log(fake, tmp_path):
    fake.on("create", code=1, stdout="error: no objects passed to create\n")
    fake.on("apply", stdout="configmap/a created\n")
    result = invoke(["once", "--log-format", "json"],
                    {"KUBECTL_BIN": fake.path, "ADDON_PATH": str(tmp_path)})
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[-1]["msg"].startswith("once: created 2,")
    assert lines[-1]["created"] == 2
    assert any(r.get("verb") == "apply" and r.get("class") == "Reconcile" for r in lines)


def test_shell_completion_is_clicks():
    env = {"_KUBE_ADDONS_COMPLETE": "bash_complete", "COMP_WORDS": "kube-addons pl",
           "COMP_CWORD": "1"}
    result = CliRunner().invoke(cli, [], env=env, prog_name="kube-addons")
    assert "plain,plan" in result.output.splitlines()


def test_lazy_exit_codes_match_their_modules():
    from kube_addons import commands, diff, plan

    assert commands.PLAN_EXIT_ERROR == plan.EXIT_ERROR
    assert commands.DIFF_EXIT_ERROR == diff.EXIT_ERROR


def test_plain_daemon_does_not_load_the_feature_modules():
    import subprocess
    import sys

    code = ("import sys, kube_addons.cli; "
            "print(sorted(m for m in ('prometheus_client', 'watchdog', 'kube_addons.plan') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
