from __future__ import annotations

import socket

import pytest

from kube_addons import config
from kube_addons.config import ConfigError
from kube_addons.profiles import DEFAULT_PRUNE_ALLOWLIST


@pytest.fixture
def kubectl_bin(tmp_path):
    path = tmp_path / "my kubectl"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def load(env, kubectl_bin, **flags):
    env = {"KUBECTL_BIN": f"'{kubectl_bin}'", **env}
    return config.load(env, flags)


def test_defaults(kubectl_bin):
    cfg = load({}, kubectl_bin)
    assert cfg.kubectl_bin == kubectl_bin
    assert cfg.kubectl_opts == ()
    assert cfg.addon_path == "/etc/kubernetes/addons"
    assert cfg.admission_dir == "/etc/kubernetes/admission-controls"
    assert cfg.interval == 60 and cfg.interval_text == "60"
    assert cfg.leader_election == "kcm"
    assert cfg.hostname == socket.gethostname()
    assert cfg.prune_allowlist == DEFAULT_PRUNE_ALLOWLIST
    assert len(cfg.prune_allowlist) == 16
    assert cfg.profile.name == "v9.1.8"
    assert cfg.kubectl_timeout == 120
    assert cfg.warnings == ()


def test_default_kubectl_path_is_upstreams():
    cfg = config.load({}, check_kubectl=False)
    assert cfg.kubectl_bin == "/usr/local/bin/kubectl"


def test_every_variable(kubectl_bin):
    cfg = load(
        {
            "KUBECTL_OPTS": "--kubeconfig='/etc/my dir/kubeconfig' -v=2",
            "ADDON_PATH": "/srv/addons",
            "TEST_ADDON_CHECK_INTERVAL_SEC": "42",
            "ADDON_MANAGER_LEADER_ELECTION": "false",
            "HOSTNAME": "node_1.example",
            "KUBECTL_PRUNE_WHITELIST_OVERRIDE": "core/v1/ConfigMap  apps/v1/Deployment",
            "KUBECTL_EXTRA_PRUNE_WHITELIST": "rbac.authorization.k8s.io/v1/Role\tcore/v1/Pod",
            "KUBE_ADDONS_ADMISSION_DIR": "/srv/admission",
            "KUBE_ADDONS_KUBECTL_TIMEOUT": "7.5",
        },
        kubectl_bin,
    )
    assert cfg.kubectl_opts == ("--kubeconfig=/etc/my dir/kubeconfig", "-v=2")
    assert cfg.addon_path == "/srv/addons"
    assert cfg.interval == 42
    assert cfg.leader_election == "off"
    assert cfg.hostname == "node_1.example"
    assert cfg.prune_allowlist == (
        "core/v1/ConfigMap", "apps/v1/Deployment",
        "rbac.authorization.k8s.io/v1/Role", "core/v1/Pod",
    )
    assert cfg.admission_dir == "/srv/admission"
    assert cfg.kubectl_timeout == 7.5


def test_extra_is_appended_to_defaults(kubectl_bin):
    cfg = load({"KUBECTL_EXTRA_PRUNE_WHITELIST": "core/v1/ServiceAccount"}, kubectl_bin)
    assert cfg.prune_allowlist == DEFAULT_PRUNE_ALLOWLIST + ("core/v1/ServiceAccount",)


@pytest.mark.parametrize("value,expected", [
    ("", "kcm"), ("true", "kcm"), ("false", "off"),
])
def test_leader_election_values(kubectl_bin, value, expected):
    cfg = load({"ADDON_MANAGER_LEADER_ELECTION": value}, kubectl_bin)
    assert cfg.leader_election == expected
    assert cfg.warnings == ()


@pytest.mark.parametrize("value", ["0", "no", "TRUE", "yes please"])
def test_leader_election_other_values_disable_with_one_warning(kubectl_bin, value):
    cfg = load({"ADDON_MANAGER_LEADER_ELECTION": value}, kubectl_bin)
    assert cfg.leader_election == "off"
    assert len(cfg.warnings) == 1
    assert "ADDON_MANAGER_LEADER_ELECTION" in cfg.warnings[0] and repr(value) in cfg.warnings[0]


def test_flags_win_over_environment(kubectl_bin):
    cfg = load({"ADDON_PATH": "/from/env", "TEST_ADDON_CHECK_INTERVAL_SEC": "5"}, kubectl_bin,
               ADDON_PATH="/from/flag")
    assert cfg.addon_path == "/from/flag"
    assert cfg.interval == 5


def test_empty_means_default(kubectl_bin):
    cfg = load({"ADDON_PATH": "", "TEST_ADDON_CHECK_INTERVAL_SEC": "", "HOSTNAME": ""},
               kubectl_bin)
    assert cfg.addon_path == "/etc/kubernetes/addons"
    assert cfg.interval == 60
    assert cfg.hostname == socket.gethostname()


def test_kubectl_bin_extra_words_go_before_opts(kubectl_bin):
    cfg = config.load({"KUBECTL_BIN": f"'{kubectl_bin}' --v=1", "KUBECTL_OPTS": "-s x"})
    assert cfg.kubectl_opts == ("--v=1", "-s", "x")


def test_kubectl_found_on_path(tmp_path, monkeypatch):
    exe = tmp_path / "kubectl"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert config.load({"KUBECTL_BIN": "kubectl"}).kubectl_bin == str(exe)


@pytest.mark.parametrize("env,needle", [
    ({"TEST_ADDON_CHECK_INTERVAL_SEC": "abc"}, "TEST_ADDON_CHECK_INTERVAL_SEC"),
    ({"TEST_ADDON_CHECK_INTERVAL_SEC": "1.5"}, "TEST_ADDON_CHECK_INTERVAL_SEC"),
    ({"TEST_ADDON_CHECK_INTERVAL_SEC": "-3"}, "TEST_ADDON_CHECK_INTERVAL_SEC"),
    ({"KUBE_ADDONS_KUBECTL_TIMEOUT": "soon"}, "KUBE_ADDONS_KUBECTL_TIMEOUT"),
    ({"KUBE_ADDONS_PROFILE": "v7"}, "KUBE_ADDONS_PROFILE"),
    ({"KUBECTL_OPTS": "--kubeconfig='unterminated"}, "KUBECTL_OPTS"),
])
def test_bad_values_name_the_variable(kubectl_bin, env, needle):
    with pytest.raises(ConfigError, match=needle):
        load(env, kubectl_bin)


def test_missing_kubectl_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path}/nope"):
        config.load({"KUBECTL_BIN": str(tmp_path / "nope")})


def test_kubectl_not_executable(tmp_path):
    path = tmp_path / "kubectl"
    path.write_text("")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="not executable"):
        config.load({"KUBECTL_BIN": str(path)})
