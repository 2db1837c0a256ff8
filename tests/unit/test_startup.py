from __future__ import annotations

import os
import threading

from kube_addons import config
from kube_addons.kubectl import Kubectl
from kube_addons.manager import Manager
from kube_addons.startup import (
    Bootstrap, find_admission_files, read_manifest_text, startup, wait_for_service_account,
)

RECONCILE = ["apply", "-f", "-", "--namespace=default", "-l",
             "addonmanager.kubernetes.io/mode=Reconcile"]
ENSURE = ["create", "-f", "-", "--namespace=default", "-l",
          "addonmanager.kubernetes.io/mode=EnsureExists"]


def test_find_lists_yaml_and_json_depth_first(tmp_path, log):
    (tmp_path / "a.yaml").write_text("x")
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text("x")
    (tmp_path / "sub" / "d.yml").write_text("x")  # find's patterns do not include .yml
    (tmp_path / ".hidden.yaml").write_text("x")
    os.symlink(tmp_path / "sub", tmp_path / "link")
    found = find_admission_files(str(tmp_path), log)
    assert sorted(found) == sorted([str(tmp_path / "a.yaml"), str(tmp_path / "sub" / "c.json"),
                                    str(tmp_path / ".hidden.yaml")])
    # pre-order, in directory order: a directory's files come right where it stands
    expected = []
    for entry in os.scandir(tmp_path):
        if entry.name == "sub":
            expected.append(str(tmp_path / "sub" / "c.json"))
        elif entry.name in ("a.yaml", ".hidden.yaml"):
            expected.append(str(tmp_path / entry.name))
    assert found == expected
    assert log.text == ""


def test_missing_directory_gives_one_error_line(tmp_path, log):
    assert find_admission_files(str(tmp_path / "none"), log) == []
    assert log.text == f"find: '{tmp_path / 'none'}': No such file or directory\n"


def test_manifest_text_like_echo_of_cat(tmp_path, log):
    path = tmp_path / "a.yaml"
    path.write_text("kind: X\n\n\n")
    assert read_manifest_text(str(path), log) == "kind: X\n"
    assert read_manifest_text(str(tmp_path / "missing.yaml"), log) == "\n"
    assert "missing.yaml" in log.text


def make_bootstrap(fake, log):
    return Bootstrap(Kubectl(fake.path, ["--kubeconfig=/k"]), log, threading.Event(), tries=3,
                     delay=0.01)


def test_bootstrap_reconciled_then_started(fake, log, tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("kind: LimitRange\n")
    assert make_bootstrap(fake, log).run(str(path), "default")
    assert fake.calls() == [["--kubeconfig=/k", *RECONCILE], ["--kubeconfig=/k", *ENSURE]]
    assert fake.stdins() == ["kind: LimitRange\n", "kind: LimitRange\n"]
    lines = [ln.split(" at ")[0] for ln in log.text.splitlines()]
    assert lines == [f"INFO: == Successfully reconciled {path} in namespace default",
                     f"INFO: == Successfully started {path} in namespace default"]


def test_bootstrap_skips_existing_and_ignores_no_objects(fake, log, tmp_path):
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    fake.on("create", code=1, stderr='Error from server (AlreadyExists): limitranges "l" '
            "already exists\n")
    path = tmp_path / "lr.yaml"
    path.write_text("kind: LimitRange\n")
    assert make_bootstrap(fake, log).run(str(path), "default")
    lines = [ln.split(" at ")[0] for ln in log.text.splitlines()]
    assert lines == [f"INFO: == Skipping start {path} in namespace default, already exists"]


def test_bootstrap_retries_and_counts_down(fake, log, tmp_path):
    fake.on("apply", code=1, stderr="The connection to the server was refused\n")
    path = tmp_path / "lr.yaml"
    path.write_text("kind: LimitRange\n")
    assert not make_bootstrap(fake, log).run(str(path), "default")
    lines = log.text.splitlines()
    assert lines[0] == "The connection to the server was refused"
    assert lines[1].startswith(f"WRN: == Failed to start {path} in namespace default at ")
    assert lines[1].endswith(". 2 tries remaining. ==")
    assert lines[-1].endswith(". 0 tries remaining. ==")
    assert len(fake.calls()) == 3


def test_service_account_wait_retries(fake, log):
    fake.on("serviceaccount", code=1, stderr="Error from server (NotFound): nope\n", times=2)
    fake.on("serviceaccount", stdout="NAME      SECRETS   AGE\ndefault   0         5s\n")
    kubectl = Kubectl(fake.path)
    assert wait_for_service_account(kubectl, log, threading.Event())
    assert fake.calls()[0] == ["get", "--namespace=kube-system", "serviceaccount", "default"]
    assert log.text.splitlines() == [
        "Error from server (NotFound): nope",
        "WRN: == Error getting default service account, retry in 0.5 second ==",
        "Error from server (NotFound): nope",
        "WRN: == Error getting default service account, retry in 0.5 second ==",
        "NAME      SECRETS   AGE",
        "default   0         5s",
        "INFO: == Default service account in the kube-system namespace ==",
    ]


def test_startup_sequence(fake, log, tmp_path):
    adm = tmp_path / "adm"
    adm.mkdir()
    (adm / "lr.yaml").write_text("kind: LimitRange\n")
    cfg = config.load({"KUBECTL_BIN": fake.path, "KUBE_ADDONS_ADMISSION_DIR": str(adm),
                       "TEST_ADDON_CHECK_INTERVAL_SEC": "7",
                       "KUBECTL_PRUNE_WHITELIST_OVERRIDE": "core/v1/ConfigMap",
                       "ADDON_MANAGER_LEADER_ELECTION": "0"})
    manager = Manager(cfg, Kubectl(cfg.kubectl_bin), log, threading.Event())
    threads = startup(manager)
    for thread in threads:
        thread.join(10)
    lines = [ln.split(" at ")[0] for ln in log.text.splitlines()]
    assert lines[:4] == [
        "INFO: == Generated kubectl prune allowlist flags: --prune-allowlist core/v1/ConfigMap  ==",
        "INFO: == Kubernetes addon manager started",
        "WRN: ADDON_MANAGER_LEADER_ELECTION='0' is neither 'true' nor 'false'; leader election "
        "is disabled (as upstream ends up doing)",
        "INFO: == Default service account in the kube-system namespace ==",
    ]
    assert log.text.splitlines()[1].endswith(" with ADDON_CHECK_INTERVAL_SEC=7 ==")
    assert f"INFO: ++ obj {adm / 'lr.yaml'} is created ++" in lines
    assert "INFO: == Entering periodical apply loop" in lines
    assert f"INFO: == Successfully started {adm / 'lr.yaml'} in namespace default" in lines
