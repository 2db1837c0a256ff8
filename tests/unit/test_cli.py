from __future__ import annotations

import pytest
from click.testing import CliRunner

from kube_addons import __version__
from kube_addons.cli import cli


def invoke(args, env=None):
    env = {"KUBE_ADDONS_GUARDS": "off", "KUBE_ADDONS_EXACT": "1", **(env or {})}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_version():
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"kube-addons, version {__version__}"


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["once", "--help"]])
def test_help_has_an_example(args):
    result = invoke(args)
    assert result.exit_code == 0
    assert "Example" in result.output


def test_help_names_every_env_var():
    text = invoke(["run", "--help"]).output.replace("\n", " ")
    for env in ("ADDON_PATH", "KUBECTL_BIN", "KUBECTL_OPTS", "TEST_ADDON_CHECK_INTERVAL_SEC",
                "ADDON_MANAGER_LEADER_ELECTION", "HOSTNAME", "KUBECTL_PRUNE_WHITELIST_OVERRIDE",
                "KUBECTL_EXTRA_PRUNE_WHITELIST", "KUBE_ADDONS_ADMISSION_DIR"):
        assert f"(env: {env})" in " ".join(text.split()), env


def test_bad_interval_exits_2_naming_the_variable(fake):
    result = invoke(["once"], {"KUBECTL_BIN": fake.path, "TEST_ADDON_CHECK_INTERVAL_SEC": "1m"})
    assert result.exit_code == 2
    assert "TEST_ADDON_CHECK_INTERVAL_SEC" in result.output


def test_missing_kubectl_exits_2_naming_the_path(tmp_path):
    result = invoke(["once"], {"KUBECTL_BIN": str(tmp_path / "kubectl")})
    assert result.exit_code == 2
    assert str(tmp_path / "kubectl") in result.output


def test_flag_beats_env(fake, tmp_path):
    result = invoke(["once", "--addon-path", str(tmp_path)],
                    {"KUBECTL_BIN": fake.path, "ADDON_PATH": "/from/env"})
    assert result.exit_code == 0
    assert fake.calls()[0][:3] == ["create", "-f", str(tmp_path)]


def test_once_summary_and_exit_codes(fake, tmp_path):
    fake.on("create", code=1, stderr="error: no objects passed to create\n")
    fake.on("apply", stdout="configmap/a created\n")
    result = invoke(["once"], {"KUBECTL_BIN": fake.path, "ADDON_PATH": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == (
        "once: created 2, configured 0, unchanged 0, pruned 0, errors 0")
    # no leader check in `once`
    assert not any("leases.v1.coordination.k8s.io" in c for c in fake.calls())


def test_once_exit_1_when_a_call_fails(fake, tmp_path):
    fake.on("apply", code=1, stderr='Error from server (Invalid): error when creating "x": '
            'ConfigMap "A" is invalid\n')
    result = invoke(["once"], {"KUBECTL_BIN": fake.path, "ADDON_PATH": str(tmp_path)})
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].endswith("errors 2")


def test_exact_flag_and_env(fake, tmp_path):
    from kube_addons.cli import build_config

    assert build_config({"exact": True}, check_kubectl=False).exact
    assert not build_config({"exact": False}, check_kubectl=False).exact
