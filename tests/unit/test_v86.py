"""The v8.6 profile: argv, log lines and decisions against the fake kubectl."""
from __future__ import annotations

import threading
import time

import pytest

from kube_addons import config, leader
from kube_addons.kubectl import Kubectl
from kube_addons.manager import Manager
from kube_addons.profiles import PROFILES, V8_6, V9_1_8
from kube_addons.startup import (
    Bootstrap, parse_server_version, startup, token_argv, wait_for_token,
)

TOKEN_ARGV = ["get", "--namespace=kube-system", "serviceaccount", "default", "-o",
              "go-template={{with index .secrets 0}}{{.name}}{{end}}"]
EP_ARGV = ["-n", "kube-system", "get", "ep", "kube-controller-manager", "-o",
           'go-template={{index .metadata.annotations "control-plane.alpha.kubernetes.io/leader"}}']
ENSURE = ["create", "-f", "/addons", "-l", "addonmanager.kubernetes.io/mode=EnsureExists",
          "--recursive"]
DEPRECATED_SEL = "kubernetes.io/cluster-service=true,addonmanager.kubernetes.io/mode!=EnsureExists"
RECONCILE_SEL = "kubernetes.io/cluster-service!=true,addonmanager.kubernetes.io/mode=Reconcile"
# What kube-controller-manager wrote into the annotation (compact JSON).
RECORD = ('{"holderIdentity":"%s","leaseDurationSeconds":15,"acquireTime":'
          '"2018-02-20T10:00:00Z","renewTime":"2018-02-20T10:05:00Z","leaderTransitions":0}')
SERVER_1_37 = '{"major":"1","minor":"37","gitVersion":"v1.37.2"}'
SERVER_1_23 = '{"major":"1","minor":"23+","gitVersion":"v1.23.17-gke.1"}'


def v86_config(fake, **env):
    base = {"KUBECTL_BIN": fake.path, "ADDON_PATH": "/addons", "HOSTNAME": "me",
            "KUBE_ADDONS_PROFILE": "v8.6", "KUBE_ADDONS_GUARDS": "off",
            "KUBE_ADDONS_EXACT": "1"}
    return config.load({**base, **env})


def manager_for(cfg, log):
    return Manager(cfg, Kubectl(cfg.kubectl_bin, cfg.kubectl_opts), log, threading.Event())


def without_ts(text):
    return [line.split(" at ")[0] for line in text.splitlines()]


# -- the profile --------------------------------------------------------------------


def test_profile_is_registered_and_selectable_by_env_and_flag(fake):
    assert PROFILES["v8.6"] is V8_6
    assert v86_config(fake).profile is V8_6
    flagged = config.load({"KUBECTL_BIN": fake.path}, {"KUBE_ADDONS_PROFILE": "v8.6"})
    assert flagged.profile is V8_6
    assert config.load({"KUBECTL_BIN": fake.path}).profile is V9_1_8


def test_differences_are_values():
    differing = {name for name in V8_6.__dataclass_fields__
                 if getattr(V8_6, name) != getattr(V9_1_8, name)}
    assert differing >= {"default_prune_allowlist", "log_prune_flags", "namespace_bootstrap",
                         "sa_wait", "admission_label_aware", "leader_source",
                         "unknown_leader_acts"}


def test_no_prune_list_unless_given(fake):
    assert v86_config(fake).prune_allowlist == ()
    assert v86_config(fake, KUBECTL_EXTRA_PRUNE_WHITELIST="core/v1/ConfigMap").prune_allowlist \
        == ("core/v1/ConfigMap",)
    assert v86_config(fake, KUBECTL_PRUNE_WHITELIST_OVERRIDE="apps/v1/Deployment",
                      KUBECTL_EXTRA_PRUNE_WHITELIST="core/v1/Secret").prune_allowlist \
        == ("apps/v1/Deployment", "core/v1/Secret")


def test_namespace_file_setting(fake):
    assert v86_config(fake).namespace_file == "/opt/namespace.yaml"
    assert v86_config(fake, KUBE_ADDONS_NAMESPACE_FILE="/tmp/ns.yaml").namespace_file \
        == "/tmp/ns.yaml"


# -- the pass -------------------------------------------------------------------------


def test_pass_argv_has_no_prune_flags_and_no_flags_line(fake, log):
    manager = manager_for(v86_config(fake, KUBECTL_OPTS="--kubeconfig=/k",
                                     ADDON_MANAGER_LEADER_ELECTION="false"), log)
    manager.log_prune_flags()
    manager.run_pass()
    assert fake.calls() == [
        ["--kubeconfig=/k", *ENSURE],
        ["--kubeconfig=/k", "apply", "-f", "/addons", "-l", DEPRECATED_SEL, "--prune=true",
         "--recursive"],
        ["--kubeconfig=/k", "apply", "-f", "/addons", "-l", RECONCILE_SEL, "--prune=true",
         "--recursive"],
    ]
    assert "Generated kubectl prune" not in log.text


def test_pass_with_extra_list_gets_flags_for_the_kubectl(fake, log):
    fake.version(24)
    manager = manager_for(v86_config(fake, ADDON_MANAGER_LEADER_ELECTION="false",
                                     KUBECTL_EXTRA_PRUNE_WHITELIST="core/v1/ConfigMap"), log)
    manager.run_pass()
    assert fake.calls()[2][-4:] == ["--prune=true", "--prune-whitelist", "core/v1/ConfigMap",
                                    "--recursive"]


# -- the leader -----------------------------------------------------------------------


@pytest.mark.parametrize("annotation,hostname,is_leader,message", [
    (RECORD % "master-1_0f1e2d3c-aaaa-bbbb", "master-1", True, "Leader is master-1"),
    (RECORD % "master-1_0f1e2d3c-aaaa-bbbb", "master-2", False, "Leader is master-1"),
    (RECORD % "master-10_0f1e", "master-1", False, "Leader is master-10"),
    # unknown: every replica acts (no Endpoints object, RBAC, connection refused)
    ("", "master-1", True, "Leader is "),
    # other annotations but not this key: go-template prints <no value>; nobody acts
    ("<no value>", "master-1", False, "Leader is <no value>"),
    # not JSON: the line goes through, then is cut at the underscore
    ("master-1_abc", "master-1", True, "Leader is master-1"),
    ("something else", "master-1", False, "Leader is something else"),
    (RECORD % "", "master-1", True, "Leader is "),
    # deliberate fix (#88214): v8.6 cut at the first underscore and never matched these
    (RECORD % "node_a_b_77c0-11e8", "node_a_b", True, "Leader is node_a_b"),
    (RECORD % "node_a_b_77c0-11e8", "node", False, "Leader is node_a_b"),
])
def test_endpoints_decision(annotation, hostname, is_leader, message):
    decision = leader.endpoints_decision(annotation, hostname, unknown_acts=True)
    assert (decision.leader, decision.level, decision.message) == (is_leader, "INFO", message)


def test_endpoints_query_carries_opts(fake, log):
    # deliberate fix (#80575): upstream v8.6 ran this one query without KUBECTL_OPTS
    fake.on("ep", stdout=RECORD % "me_0f1e")
    kubectl = Kubectl(fake.path, ["--kubeconfig=/k"])
    assert leader.is_leader(V8_6, kubectl, log, "me") is True
    assert fake.calls() == [["--kubeconfig=/k", *EP_ARGV]]
    assert log.text == "INFO: Leader is me\n"


def test_endpoints_not_found_means_everyone_acts(fake, log):
    fake.on("ep", code=1, stderr="Warning: v1 Endpoints is deprecated in v1.33+; use "
            "discovery.k8s.io/v1 EndpointSlice\nError from server (NotFound): endpoints "
            '"kube-controller-manager" not found\n')
    manager = manager_for(v86_config(fake), log)
    report = manager.run_pass()
    assert report.leader
    assert log.text.splitlines()[:3] == [
        "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice",
        'Error from server (NotFound): endpoints "kube-controller-manager" not found',
        "INFO: Leader is ",
    ]


def test_other_leader_sleeps(fake, log):
    fake.on("ep", stdout=RECORD % "other_0f1e")
    manager = manager_for(v86_config(fake), log)
    report = manager.run_pass()
    assert not report.leader
    assert log.text.splitlines() == ["INFO: Leader is other",
                                     "INFO: Not elected leader, going back to sleep."]
    assert fake.calls() == [EP_ARGV]


# -- the service-account wait ------------------------------------------------------------


def test_token_wait_sleeps_first_retries_empty_silently_and_logs_token(fake, log):
    fake.on("serviceaccount", code=1, stderr="The connection to the server was refused\n",
            times=1)
    fake.on("serviceaccount", times=1)  # exists, token controller not done yet: empty
    fake.on("serviceaccount", stdout="default-token-abcde")
    fake.on("/version", stdout=SERVER_1_23)
    start = time.monotonic()
    assert wait_for_token(Kubectl(fake.path, ["--kubeconfig=/k"]), log, threading.Event())
    assert time.monotonic() - start >= 1.5  # three attempts, each after 0.5 s
    calls = [c for c in fake.calls() if "-o" in c and TOKEN_ARGV[-1] in c]
    assert calls == [["--kubeconfig=/k", *TOKEN_ARGV]] * 3
    assert log.text.splitlines() == [
        "The connection to the server was refused",
        "WRN: == Error getting default service account, retry in 0.5 second ==",
        "INFO: == Default service account in the kube-system namespace has token "
        "default-token-abcde ==",
    ]


def test_token_wait_before_1_24_keeps_waiting(fake, log):
    fake.on("/version", stdout=SERVER_1_23)
    fake.on("-o", "name", stdout="serviceaccount/default\n")
    fake.on("serviceaccount", times=3)  # a token never shows up
    stop = threading.Event()
    timer = threading.Timer(2.2, stop.set)
    timer.start()
    try:
        assert not wait_for_token(Kubectl(fake.path), log, stop)
    finally:
        timer.cancel()
    assert log.text == ""
    assert [c for c in fake.calls() if c == list(token_argv())]


def test_token_wait_accepts_tokenless_account_from_1_24(fake, log):
    # deliberate fix (#108313): v8.6 waits for ever on these servers
    fake.on("/version", stdout=SERVER_1_37)
    fake.on("-o", "name", stdout="serviceaccount/default\n")
    fake.on("serviceaccount", code=1, stdout="Error executing template: ...\n", stderr=(
        'error: error executing template "{{with index .secrets 0}}{{.name}}{{end}}": '
        "template: output:1:7: executing \"output\" at <index .secrets 0>: error calling "
        "index: index of untyped nil\n"))
    assert wait_for_token(Kubectl(fake.path), log, threading.Event())
    assert fake.calls() == [TOKEN_ARGV, ["get", "--raw", "/version"],
                            ["get", "--namespace=kube-system", "serviceaccount", "default",
                             "-o", "name"]]
    assert log.text.splitlines() == [
        "INFO: == Default service account in the kube-system namespace exists; this server "
        "creates no token secrets (Kubernetes >= 1.24), going on ==",
    ]


def test_token_wait_from_1_24_still_waits_for_the_account(fake, log):
    fake.on("/version", stdout=SERVER_1_37)
    fake.on("-o", "name", code=1, stderr="Error from server (NotFound): nope\n", times=1)
    fake.on("-o", "name", stdout="serviceaccount/default\n")
    fake.on("serviceaccount", code=1, stderr="Error from server (NotFound): nope\n", times=1)
    fake.on("serviceaccount", code=1, stderr="error: index of untyped nil\n")
    assert wait_for_token(Kubectl(fake.path), log, threading.Event())
    assert without_ts(log.text)[:2] == [
        "Error from server (NotFound): nope",
        "WRN: == Error getting default service account, retry in 0.5 second ==",
    ]
    assert log.text.splitlines()[-1].endswith("(Kubernetes >= 1.24), going on ==")
    assert fake.calls().count(["get", "--raw", "/version"]) == 1


@pytest.mark.parametrize("text,version", [
    (SERVER_1_37, (1, 37)), (SERVER_1_23, (1, 23)), ("", None), ("{}", None),
    ('{"major":"","minor":""}', None),
])
def test_parse_server_version(text, version):
    assert parse_server_version(text) == version


# -- bootstrap and startup -----------------------------------------------------------------


def test_label_agnostic_apply_step(fake, log, tmp_path):
    fake.on("apply", stdout='limitrange "limits" created\n')
    path = tmp_path / "limit-range.yaml"
    path.write_text("kind: LimitRange\n")
    helper = Bootstrap(Kubectl(fake.path, ["--kubeconfig=/k"]), log, threading.Event(),
                       tries=3, delay=0.01, label_aware=False)
    assert helper.run(str(path), "default")
    assert fake.calls() == [["--kubeconfig=/k", "--namespace=default", "apply", "-f", "-"]]
    assert fake.stdins() == ["kind: LimitRange\n"]
    assert without_ts(log.text) == [
        'limitrange "limits" created',
        f"INFO: == Successfully started {path} in namespace default",
    ]
    assert not log.text.rstrip("\n").endswith("==")


def test_namespace_file_missing_retries_with_empty_namespace(fake, log, tmp_path):
    # issue #64962: outside the image the file is missing and the bootstrap never succeeds
    fake.on("apply", code=1, stderr="error: no objects passed to apply\n")
    missing = str(tmp_path / "namespace.yaml")
    helper = Bootstrap(Kubectl(fake.path), log, threading.Event(), tries=2, delay=0.01,
                       label_aware=False)
    assert not helper.run(missing, "")
    assert fake.calls() == [["--namespace=", "apply", "-f", "-"]] * 2
    lines = log.text.splitlines()
    assert lines[0] == f"cat: {missing}: No such file or directory"
    assert lines[1] == "error: no objects passed to apply"
    assert lines[2].startswith(f"WRN: == Failed to start {missing} in namespace  at ")
    assert lines[2].endswith(". 1 tries remaining. ==")
    assert lines[-1].endswith(". 0 tries remaining. ==")


def test_startup_sequence(fake, log, tmp_path):
    ns_file = tmp_path / "namespace.yaml"
    ns_file.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-system\n")
    adm = tmp_path / "adm"
    adm.mkdir()
    (adm / "lr.yaml").write_text("kind: LimitRange\n")
    fake.on("--namespace=", "apply", stdout='namespace "kube-system" configured\n')
    fake.on("--namespace=default", "apply", stdout='limitrange "limits" created\n', sleep=0.3)
    fake.on("serviceaccount", stdout="default-token-abcde")
    cfg = v86_config(fake, KUBE_ADDONS_ADMISSION_DIR=str(adm),
                     KUBE_ADDONS_NAMESPACE_FILE=str(ns_file), TEST_ADDON_CHECK_INTERVAL_SEC="3",
                     KUBECTL_OPTS="--kubeconfig=/k")
    threads = startup(manager_for(cfg, log))
    for thread in threads:
        thread.join(10)
    assert len(threads) == 2
    lines = without_ts(log.text)
    assert log.text.splitlines()[0].endswith(" with ADDON_CHECK_INTERVAL_SEC=3 ==")
    # The namespace apply is done during the 0.5 s before the first token query; the
    # admission one takes 0.3 s and lands after the loop line.
    assert lines == [
        "INFO: == Kubernetes addon manager started",
        'namespace "kube-system" configured',
        f"INFO: == Successfully started {ns_file} in namespace ",
        "INFO: == Default service account in the kube-system namespace has token "
        "default-token-abcde ==",
        f"INFO: ++ obj {adm / 'lr.yaml'} is created ++",
        "INFO: == Entering periodical apply loop",
        'limitrange "limits" created',
        f"INFO: == Successfully started {adm / 'lr.yaml'} in namespace default",
    ]
    assert ["--kubeconfig=/k", "--namespace=", "apply", "-f", "-"] in fake.calls()
    assert ["--kubeconfig=/k", "--namespace=default", "apply", "-f", "-"] in fake.calls()
    # two spaces where the namespace would be, and no closing "==" (as upstream)
    assert "in namespace  at " in log.text.splitlines()[2]
    assert not log.text.splitlines()[2].endswith("==")
