"""Pure parts of the local control-plane harness (no Go, no cluster)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kube_addons.devcluster import build, cli, cluster, keys, testing

V = "v1.37.2"


# -- build --------------------------------------------------------------------------------


def test_parse_version() -> None:
    assert build.parse_version("v1.37.2") == ("1", "37")
    assert build.parse_version("v1.30.0-rc.1") == ("1", "30")
    with pytest.raises(ValueError):
        build.parse_version("1.37")


def test_ldflags_match_the_cached_build_exactly() -> None:
    expected = "-s -w " + " ".join(
        f"-X {pkg}.gitVersion=v1.37.2 -X {pkg}.gitMajor=1 -X {pkg}.gitMinor=37 "
        f"-X {pkg}.gitTreeState=clean"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    )
    assert build.ldflags(V) == expected


def test_build_argv() -> None:
    argv = build.build_argv(V, Path("/tmp/out"))
    assert argv[:4] == ["go", "build", "-v", "-trimpath"]
    assert argv[argv.index("-ldflags") + 1] == build.ldflags(V)
    assert argv[argv.index("-o") + 1] == "/tmp/out/"  # trailing slash: one binary per package
    assert argv[-4:] == list(build.PACKAGES)
    assert "-v" not in build.build_argv(V, "/x", verbose=False)


def test_cache_dir_resolution(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert build.bin_dir_for(V, env) == tmp_path / ".cache/kube-addons/controlplane/v1.37.2/bin"
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert build.cache_root(env) == tmp_path / "xdg/kube-addons/controlplane"
    env[build.CACHE_ENV] = str(tmp_path / "cp")
    assert build.bin_dir_for(V, env) == tmp_path / "cp/v1.37.2/bin"


def test_pinned_version_of_the_shipped_go_mod() -> None:
    assert build.pinned_version((build.GO_DIR / "go.mod").read_text()) == build.DEFAULT_VERSION
    assert build.pinned_version("require k8s.io/kubernetes v1.30.1\n") == "v1.30.1"
    assert build.pinned_version("module x\n") is None


def test_stamp_depends_on_inputs() -> None:
    base = build.stamp_for(V, b"mod", b"sum")
    assert base == build.stamp_for(V, b"mod", b"sum")
    assert base != build.stamp_for(V, b"mod", b"sum2")
    assert base != build.stamp_for(V, b"mod2", b"sum")
    assert base != build.stamp_for("v1.37.3", b"mod", b"sum")


def test_package_lines_and_progress() -> None:
    assert build.is_package_line("k8s.io/api/core/v1")
    assert build.is_package_line("runtime")
    assert not build.is_package_line("# k8s.io/foo")
    assert not build.is_package_line("go: downloading x v1")
    assert not build.is_package_line("./x.go:3:1: syntax error")
    assert not build.is_package_line("")
    msg = build.progress_message(V, 812, 2431)
    assert msg == "building control plane v1.37.2: 812/2431 packages (33%)"
    assert build.progress_message(V, 3000, 2431).endswith("2431/2431 packages (100%)")


def _fake_bin_dir(bin_dir: Path, stamp: str | None) -> None:
    bin_dir.mkdir(parents=True)
    for name in build.BINARIES:
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    if stamp is not None:
        (bin_dir / build.STAMP_NAME).write_text(stamp + "\n")


def _current_stamp() -> str:
    go = build.GO_DIR
    return build.stamp_for(V, (go / "go.mod").read_bytes(), (go / "go.sum").read_bytes())


def test_ensure_binaries_is_a_noop_when_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path))
    _fake_bin_dir(tmp_path / V / "bin", _current_stamp())

    def no_go(*a: object, **k: object) -> None:
        raise AssertionError("go must not run")

    monkeypatch.setattr(build.subprocess, "Popen", no_go)
    assert build.ensure_binaries(V) == tmp_path / V / "bin"


def test_stale_stamp_or_missing_binary_means_rebuild(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _fake_bin_dir(bin_dir, "old")
    assert not build.is_current(bin_dir, _current_stamp())
    (bin_dir / build.STAMP_NAME).write_text(_current_stamp())
    assert build.is_current(bin_dir, _current_stamp())
    (bin_dir / "etcd").unlink()
    assert not build.is_current(bin_dir, _current_stamp())
    assert build.missing_binaries(bin_dir) == ["etcd"]


def test_ensure_binaries_rejects_a_version_go_mod_does_not_pin() -> None:
    with pytest.raises(build.BuildError, match="config"):
        build.ensure_binaries("v1.30.0")


def test_failed_step_names_the_step_and_shows_the_tail(tmp_path: Path) -> None:
    script = "import sys\nfor i in range(100): print('line', i)\nsys.exit(3)"
    with pytest.raises(build.BuildError) as err:
        build._run_step("build", [sys.executable, "-c", script], tmp_path)
    text = str(err.value)
    assert "step 'build'" in text and "exited with 3" in text
    assert "line 99" in text and "line 60" in text and "line 59" not in text  # last 40


def test_etcd_binary_is_renamed(tmp_path: Path) -> None:
    for name in ("v3", "kube-apiserver", "kube-controller-manager", "kubectl"):
        (tmp_path / name).write_text("")
    build._rename_etcd(tmp_path)
    assert (tmp_path / "etcd").exists() and not (tmp_path / "v3").exists()
    (tmp_path / "kubectl").unlink()
    with pytest.raises(build.BuildError, match="kubectl"):
        build._rename_etcd(tmp_path)


def test_install_swaps_directories(tmp_path: Path) -> None:
    old, new = tmp_path / "bin", tmp_path / "new"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    build._install(new, old)
    assert (old / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


# -- cluster argv / files -------------------------------------------------------------------


def test_component_argv_stay_on_loopback(tmp_path: Path) -> None:
    layout = cluster.Layout(tmp_path)
    bin_dir = Path("/b")
    etcd = cluster.etcd_argv(bin_dir, layout, 2379, 2380)
    api = cluster.apiserver_argv(bin_dir, layout, 2379, 6443)
    kcm = cluster.controller_manager_argv(bin_dir, layout)
    assert etcd[0] == "/b/etcd" and api[0] == "/b/kube-apiserver"
    assert kcm[0] == "/b/kube-controller-manager"
    assert "--initial-cluster=default=http://127.0.0.1:2380" in etcd
    assert "--endpoint-reconciler-type=none" in api
    assert "--secure-port=6443" in api and "--bind-address=127.0.0.1" in api
    assert f"--cert-dir={layout.cert_dir}" in api
    assert "--leader-elect=true" in kcm and "--secure-port=0" in kcm
    assert f"--root-ca-file={layout.cert_dir / 'apiserver.crt'}" in kcm
    urls = re.findall(r"https?://([^:/ ]+)", " ".join(etcd + api))
    assert set(urls) == {"127.0.0.1", "kubernetes.default.svc"}


def test_kubeconfig_and_token_file() -> None:
    cfg = cluster.kubeconfig_dict("https://127.0.0.1:1", "tok", "/ca.crt")
    assert cfg["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:1",
        "certificate-authority": "/ca.crt",
    }
    assert cfg["users"][0]["user"] == {"token": "tok"}
    assert cfg["contexts"][0]["context"]["namespace"] == "default"
    assert cfg["current-context"] == cfg["contexts"][0]["name"]
    assert cluster.token_file_line("tok") == "tok,admin,admin,system:masters\n"


def test_free_ports_are_distinct() -> None:
    ports = cluster.free_ports(3)
    assert len(set(ports)) == 3 and all(p > 0 for p in ports)


def test_tail_file(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"{i}\n" for i in range(100)))
    assert cluster.tail_file(log, 3) == "97\n98\n99\n"
    assert "no log" in cluster.tail_file(tmp_path / "missing")


def test_cluster_rejects_incomplete_bin_dir(tmp_path: Path) -> None:
    with pytest.raises(cluster.ClusterError, match="lacks"):
        cluster.Cluster(bin_dir=tmp_path)


def test_cluster_refuses_non_empty_workdir(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _fake_bin_dir(bin_dir, None)
    work = tmp_path / "work"
    work.mkdir()
    (work / "leftover").write_text("")
    c = cluster.Cluster(bin_dir=bin_dir, workdir=work, quiet=True)
    with pytest.raises(cluster.ClusterError, match="not empty"):
        c.start()
    c.stop()  # nothing started: still fine


def test_component_child_gets_death_signal(tmp_path: Path) -> None:
    """The preexec hook sets PR_SET_PDEATHSIG=SIGKILL (field PDeathSig isn't in /proc, so
    ask the child itself through prctl(PR_GET_PDEATHSIG))."""
    if cluster._PRCTL is None:
        pytest.skip("prctl unavailable")
    probe = (
        "import ctypes, ctypes.util\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "sig = ctypes.c_int()\n"
        "libc.prctl(2, ctypes.byref(sig), 0, 0, 0)\n"
        "print(sig.value)\n"
    )
    comp = cluster.Component("probe", [sys.executable, "-c", probe], tmp_path / "probe.log")
    comp.start()
    assert comp.proc is not None
    assert comp.proc.wait(timeout=30) == 0
    assert comp.tail().splitlines()[-1] == "9"  # SIGKILL
    assert comp.describe_exit() == "probe exited with code 0"


def test_component_stop_escalates_and_thaws(tmp_path: Path) -> None:
    ignore_term = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(60)"
    )
    comp = cluster.Component("stubborn", [sys.executable, "-c", ignore_term], tmp_path / "s.log")
    comp.start()
    deadline = time.monotonic() + 30
    while not comp.tail().endswith("ready\n") and time.monotonic() < deadline:
        time.sleep(0.05)
    comp.freeze()
    comp.stop(grace=1.0)
    assert not comp.running()
    assert comp.proc is not None and comp.proc.returncode == -9


# -- keys -----------------------------------------------------------------------------------


def test_der_int() -> None:
    assert keys.der_int(0) == b"\x02\x01\x00"
    assert keys.der_int(127) == b"\x02\x01\x7f"
    assert keys.der_int(128) == b"\x02\x02\x00\x80"  # sign byte
    assert keys.der_int(65537) == b"\x02\x03\x01\x00\x01"


def test_primality() -> None:
    assert keys.is_probable_prime(2**127 - 1)
    assert not keys.is_probable_prime(2**127 + 1)
    assert not keys.is_probable_prime(561)  # Carmichael number


def test_rsa_numbers_are_consistent() -> None:
    k = keys.rsa_numbers(512)
    assert k["n"] == k["p"] * k["q"] and k["n"].bit_length() == 512
    msg = 123456789
    assert pow(pow(msg, k["e"], k["n"]), k["d"], k["n"]) == msg
    assert k["qinv"] * k["q"] % k["p"] == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_python_fallback_keys_parse_with_openssl(tmp_path: Path) -> None:
    private_pem, public_pem = keys.rsa_pem_pair(1024)
    (tmp_path / "k.pem").write_text(private_pem)
    (tmp_path / "p.pem").write_text(public_pem)
    check = subprocess.run(
        ["openssl", "rsa", "-in", str(tmp_path / "k.pem"), "-check", "-noout"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0 and "RSA key ok" in check.stdout, check.stderr
    derived = subprocess.run(
        ["openssl", "rsa", "-in", str(tmp_path / "k.pem"), "-pubout"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert derived == public_pem


def test_generate_key_pair_without_openssl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys.shutil, "which", lambda name: None)
    monkeypatch.setattr(keys, "rsa_pem_pair", lambda bits: ("PRIV\n", "PUB\n"))
    keys.generate_key_pair(tmp_path / "k", tmp_path / "p")
    assert (tmp_path / "k").read_text() == "PRIV\n" and (tmp_path / "p").read_text() == "PUB\n"
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600


# -- test helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "test_name",
    ["test_foo", "test_Apply_Prune[case-1]", "test_" + "x" * 200, "weird__name!!", "test_"],
)
def test_namespace_name_is_a_dns_label(test_name: str) -> None:
    name = testing.namespace_name(test_name)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
    assert len(name) <= 63 and name.startswith("t-")
    assert testing.namespace_name(test_name) != name  # random suffix


def test_namespace_name_shape() -> None:
    assert testing.namespace_name("test_apply_prune[a]", "abc123") == "t-apply-prune-abc123"


def test_make_kubectl(tmp_path: Path) -> None:
    echo = testing.make_kubectl("/bin/echo", "/kc")
    assert echo("get", "ns").stdout == "--kubeconfig=/kc get ns\n"
    fail = testing.make_kubectl("/bin/false", "/kc")
    assert fail("x", check=False).returncode == 1
    with pytest.raises(testing.KubectlError) as err:
        fail("x")
    assert isinstance(err.value, subprocess.CalledProcessError)
    assert "stderr:" in str(err.value)


# -- CLI helpers ----------------------------------------------------------------------------


def test_resolve_dir(tmp_path: Path) -> None:
    assert cli.resolve_dir(None, {}, tmp_path) == tmp_path / ".devcluster"
    assert cli.resolve_dir(None, {cli.DIR_ENV: "/abs"}, tmp_path) == Path("/abs")
    assert cli.resolve_dir("rel", {cli.DIR_ENV: "/abs"}, tmp_path) == tmp_path / "rel"


def test_export_lines_are_shell_quoted() -> None:
    out = cli.export_lines("/a b/kubeconfig", "/bin/kubectl")
    assert out == "export KUBECONFIG='/a b/kubeconfig'\nexport KUBECTL_BIN=/bin/kubectl\n"


def test_exit_codes_and_dashdash() -> None:
    assert cli.exit_code(0) == 0 and cli.exit_code(7) == 7
    assert cli.exit_code(-2) == 130 and cli.exit_code(-9) == 137
    assert cli.strip_dashdash(["--", "make", "--", "x"]) == ["make", "--", "x"]
    assert cli.strip_dashdash(["make"]) == ["make"]


def test_state_round_trip(tmp_path: Path) -> None:
    assert cli.read_state(tmp_path) is None
    cli.write_state(tmp_path, {"supervisor_pid": 1, "ready": True})
    assert cli.read_state(tmp_path) == {"supervisor_pid": 1, "ready": True}
    assert [p.name for p in tmp_path.iterdir()] == [cli.STATE_FILE]


def test_pid_alive() -> None:
    assert cli.pid_alive(os.getpid())
    assert cli.pid_alive(os.getpid(), "python") or cli.pid_alive(os.getpid(), "pytest")
    assert not cli.pid_alive(os.getpid(), "no-such-command-line-text")
    assert not cli.pid_alive(None)
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while cli.pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # it exits and stays a zombie: counts as gone
    assert not cli.pid_alive(child.pid)
    child.wait()


def test_cli_parser() -> None:
    args = cli.parser().parse_args(["run", "--", "make", "test", "-k", "x"])
    assert cli.strip_dashdash(args.cmd) == ["make", "test", "-k", "x"]
    assert cli.parser().parse_args(["up", "--dir", "d"]).dir == "d"
    assert cli.main(["run"]) == 2


# -- stale temp work dirs -------------------------------------------------------------------


def test_reap_stale_workdirs_removes_only_dead_owners(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine, stale, unknown = (
        tmp_path / f"{cluster.TEMP_PREFIX}{n}" for n in ("mine", "stale", "unknown")
    )
    for d in (mine, stale, unknown):
        d.mkdir()
    foreign = tmp_path / "other-dir"
    foreign.mkdir()
    cluster.write_owner(mine)
    (stale / cluster.OWNER_FILE).write_text(f'{{"pid": {dead.pid}, "start": "1"}}')
    (foreign / cluster.OWNER_FILE).write_text(f'{{"pid": {dead.pid}, "start": "1"}}')
    assert cluster.reap_stale_workdirs(tmp_path) == [stale]
    assert mine.exists() and foreign.exists() and unknown.exists() and not stale.exists()


def test_owner_detects_pid_reuse(tmp_path: Path) -> None:
    (tmp_path / cluster.OWNER_FILE).write_text(f'{{"pid": {os.getpid()}, "start": "0"}}')
    assert not cluster.owner_alive(tmp_path)  # same pid, other start time
    cluster.write_owner(tmp_path)
    assert cluster.owner_alive(tmp_path)
    assert cluster.process_start_time(os.getpid()) is not None
