"""The drop-in's shims and the image test's pure helpers."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.rootfs.rootfs import mirror_from_sources, recipe_key

IMAGE = Path(__file__).resolve().parents[2] / "image"

FAKE = """#!/bin/bash
echo "pid=$$ profile=${KUBE_ADDONS_PROFILE} opts=${KUBECTL_OPTS} args=$*"
"""


@pytest.fixture
def fake_program(tmp_path) -> Path:
    path = tmp_path / "kube-addons"
    path.write_text(FAKE)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("shim,profile", [("kube-addons.sh", "v8.6"),
                                          ("kube-addons-main.sh", "v9.1.8")])
def test_shim_execs_the_daemon_keeping_the_environment(fake_program, shim, profile):
    env = {"PATH": "/usr/bin:/bin", "KUBE_ADDONS_BIN": str(fake_program),
           "KUBECTL_OPTS": "--kubeconfig=/etc/srv/kubernetes/addon-manager/kubeconfig"}
    proc = subprocess.Popen(["/bin/bash", "-c", f"exec {IMAGE / shim}"], env=env,
                            stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=10)
    # exec all the way down: the program has the pod's first process id
    assert out == (f"pid={proc.pid} profile={profile} "
                   "opts=--kubeconfig=/etc/srv/kubernetes/addon-manager/kubeconfig "
                   "args=run --loop\n")


def test_shim_profile_can_be_overridden(fake_program):
    env = {"PATH": "/usr/bin:/bin", "KUBE_ADDONS_BIN": str(fake_program),
           "KUBE_ADDONS_PROFILE": "v9.1.8"}
    out = subprocess.run([str(IMAGE / "kube-addons.sh")], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "profile=v9.1.8 " in out


def test_shims_are_executable():
    for name in ("kube-addons.sh", "kube-addons-main.sh"):
        assert (IMAGE / name).stat().st_mode & 0o111 == 0o111


DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.invalid/debian
Suites: bookworm

Types: deb
URIs: http://mirror.invalid/debian http://second.invalid/debian
Suites: bookworm bookworm-updates
Components: main
"""


@pytest.mark.parametrize("sources,expected", [
    ({"/etc/apt/sources.list.d/debian.sources": DEB822}, "http://mirror.invalid/debian"),
    ({"/etc/apt/sources.list": "# deb http://old.invalid/debian bookworm main\n"
      "deb-src http://src.invalid/debian bookworm main\n"
      "deb [signed-by=/k.gpg arch=amd64] http://list.invalid/debian bookworm main\n"},
     "http://list.invalid/debian"),
    ({"/etc/apt/sources.list": "deb http://list.invalid/debian bookworm-updates main\n"}, None),
    ({"/etc/apt/sources.list.d/x.sources": "Enabled: no\nTypes: deb\nURIs: http://a.invalid/\n"
      "Suites: bookworm\n"}, None),
    ({}, None),
])
def test_mirror_from_sources(sources, expected):
    assert mirror_from_sources(sources) == expected


def test_recipe_key_follows_the_recipe():
    base = {"suite": "bookworm", "include": ["python3"]}
    assert recipe_key(base) == recipe_key(dict(base))
    assert recipe_key(base) != recipe_key({**base, "include": ["python3", "bash"]})
