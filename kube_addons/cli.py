"""Command line: thin click commands that build a Config and hand it to the manager."""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, Optional

import click

from kube_addons import __version__, config as cfgmod, memory
from kube_addons.commands import (
    attach_log,
    log_format_option,
    make_run_extras,
    once_summary,
    register,
    run_options,
)
from kube_addons.config import Config, ConfigError
from kube_addons.jsonlog import make_log
from kube_addons.kubectl import Kubectl
from kube_addons.logs import Log
from kube_addons.manager import Manager, PassReport
from kube_addons.profiles import PROFILES
from kube_addons.startup import startup

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# (flag, env var, help, extra click kwargs)
_OPTIONS: list[tuple[str, str, str, dict]] = [
    ("--addon-path", cfgmod.ENV_ADDON_PATH,
     f"Directory of addon manifests [default: {cfgmod.DEFAULT_ADDON_PATH}].", {}),
    ("--kubectl", cfgmod.ENV_KUBECTL_BIN,
     f"kubectl binary [default: {cfgmod.DEFAULT_KUBECTL}].", {}),
    ("--kubectl-opts", cfgmod.ENV_KUBECTL_OPTS,
     "Options put right after the binary on every call (split like a shell would).", {}),
    ("--interval", cfgmod.ENV_INTERVAL,
     f"Seconds between passes [default: {cfgmod.DEFAULT_INTERVAL}].", {}),
    ("--leader-election", cfgmod.ENV_LEADER_ELECTION,
     "kcm: act only where kube-controller-manager's Lease holder is this host; off: always "
     "act; lease: our own Lease, see --lease (not upstream). The env var takes upstream's "
     "true/false, or lease.", {"type": click.Choice(["kcm", "lease", "off"])}),
    ("--hostname", cfgmod.ENV_HOSTNAME,
     "Host name matched against the leader [default: system].", {}),
    ("--prune-allowlist-override", cfgmod.ENV_PRUNE_OVERRIDE,
     "Whitespace-separated group/version/Kind list replacing the default prune list.", {}),
    ("--extra-prune-allowlist", cfgmod.ENV_PRUNE_EXTRA,
     "Whitespace-separated group/version/Kind list appended to the prune list.", {}),
    ("--admission-dir", cfgmod.ENV_ADMISSION_DIR,
     f"Admission-control manifests applied at startup [default: {cfgmod.DEFAULT_ADMISSION_DIR}].",
     {}),
    ("--namespace-file", cfgmod.ENV_NAMESPACE_FILE,
     "Namespace manifest the v8.6 profile applies at startup "
     f"[default: {cfgmod.DEFAULT_NAMESPACE_FILE}].", {}),
    ("--profile", cfgmod.ENV_PROFILE, "Upstream release to behave like [default: v9.1.8].",
     {"type": click.Choice(sorted(PROFILES))}),
    ("--guards", cfgmod.ENV_GUARDS,
     "on: hold back accidental deletions (see README, Safety); off: upstream's calls exactly "
     "[default: on].", {"type": click.Choice(["on", "off"])}),
    ("--max-prune", cfgmod.ENV_MAX_PRUNE,
     f"Most objects one class may prune in a pass [default: {cfgmod.DEFAULT_MAX_PRUNE}].", {}),
    ("--allow-prune", cfgmod.ENV_ALLOW_PRUNE,
     "KIND/NAMESPACE/NAME the blast-radius guard lets go (repeatable; env: space-separated).",
     {"multiple": True}),
    ("--state-configmap", cfgmod.ENV_STATE,
     "kube-system ConfigMap remembering what each file held; 'none' keeps it in memory "
     "[default: kube-addons-state-<hash of ADDON_PATH>].", {}),
    ("--exact", cfgmod.ENV_EXACT,
     "Make upstream's three kubectl calls every pass, nothing skipped (the baseline the "
     "optimised pass is measured against).", {"is_flag": True}),
    ("--full-pass-every", cfgmod.ENV_FULL_EVERY,
     f"Every Nth pass is exact even when optimised; 0 never [default: "
     f"{cfgmod.DEFAULT_FULL_EVERY}].", {}),
    ("--kubectl-timeout", cfgmod.ENV_KUBECTL_TIMEOUT,
     f"Seconds before a kubectl call is killed [default: {cfgmod.DEFAULT_KUBECTL_TIMEOUT:g}].", {}),
]


def _flag_param(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def config_options(func: Callable) -> Callable:
    for flag, env, text, extra in reversed(_OPTIONS):
        func = click.option(flag, default=None, help=f"{text} (env: {env})", **extra)(func)
    return func


def build_config(params: dict, check_kubectl: bool = True) -> Config:
    flags: dict[str, str] = {}
    for flag, env, _text, _extra in _OPTIONS:
        value = params.get(_flag_param(flag))
        if value is None or value == ():
            continue
        if isinstance(value, tuple):
            value = " ".join(value)
        if isinstance(value, bool):
            if not value:
                continue  # an absent flag must not override the environment
            value = "1"
        if flag == "--leader-election":
            value = {"kcm": "true", "off": "false"}.get(str(value), value)
        flags[env] = str(value)
    return cfgmod.load(os.environ, flags, check_kubectl=check_kubectl)


def _load(params: dict) -> Config:
    try:
        return build_config(params)
    except ConfigError as exc:
        click.echo(f"kube-addons: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _make_manager(cfg: Config, log: Log) -> Manager:
    extra_env = {"KUBECACHEDIR": cfg.kubectl_cache_dir} if cfg.kubectl_cache_dir else None
    kubectl = Kubectl(cfg.kubectl_bin, cfg.kubectl_opts, timeout=cfg.kubectl_timeout,
                      extra_env=extra_env)
    return Manager(cfg, kubectl, log, threading.Event())


def _handle_signals(manager: Manager) -> None:
    """Stop promptly on SIGTERM/SIGINT, ending any running kubectl (upstream's bash, as
    PID 1, ignored SIGTERM and sat out the grace period)."""

    def handler(signum: int, _frame: object) -> None:
        manager.shutdown()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kube-addons")
def cli() -> None:
    """Keep the addon manifests under ADDON_PATH applied to the cluster.

    A drop-in port of Kubernetes' addon-manager (kube-addons.sh): objects labelled
    addonmanager.kubernetes.io/mode=Reconcile are re-applied every interval and pruned
    when their file goes; mode=EnsureExists objects are created when missing.

    \b
    Example:
      ADDON_PATH=./addons kube-addons once
    """


@cli.command()
@click.option("--loop", is_flag=True, help="Keep running passes every interval until signalled.")
@config_options
@run_options
def run(loop: bool, **params: object) -> None:
    """Start up as upstream does, then run one pass (or, with --loop, run forever).

    \b
    Example (what the static pod runs):
      KUBECTL_OPTS=--kubeconfig=/etc/kubeconfig kube-addons run --loop
    Example (beyond upstream):
      kube-addons run --loop --watch --metrics-addr 127.0.0.1:9102 --leader-election lease
    """
    cfg = _load(params)
    if loop:
        memory.limit_arenas()
    extras = make_run_extras(params, cfg, loop)
    log = extras.log
    manager = _make_manager(cfg, log)
    extras.attach(manager)
    _handle_signals(manager)
    try:
        startup(manager)
        if manager.stop.is_set():
            sys.exit(EXIT_OK)
        extras.before_passes(manager)
        if loop:
            manager.loop(on_pass=extras.on_pass)
            sys.exit(EXIT_OK)
        report = manager.run_pass()
        extras.on_pass(report)
        sys.exit(EXIT_FAILED if report.failed else EXIT_OK)
    finally:
        extras.close()


@cli.command()
@config_options
@log_format_option
def once(**params: object) -> None:
    """One ensure + reconcile pass, no startup waits and no leader check (for CI).

    Exit 0 when every kubectl call succeeded, 1 when one failed or a guard held
    something back, 2 on a usage error.

    \b
    Example:
      ADDON_PATH=./addons KUBECTL_BIN=$(command -v kubectl) kube-addons once
    """
    cfg = _load(params)
    log = make_log(str(params.get("log_format") or "text"))
    manager = _make_manager(cfg, log)
    attach_log(manager, log)
    _handle_signals(manager)
    report: PassReport = manager.run_pass(check_leader=False)
    held = f", held back {report.held}" if report.held else ""
    once_summary(log, f"once: {report.tally.summary()}{held}", report)
    sys.exit(EXIT_FAILED if report.failed or report.held else EXIT_OK)


# plan, diff, validate (kube_addons/commands.py).
register(cli, config_options, build_config)


# Invoked through upstream's script names (the drop-in shims), run the daemon.
_SCRIPT_NAMES = ("kube-addons.sh", "kube-addons-main.sh")


def main(argv: Optional[list[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if os.path.basename(sys.argv[0]) in _SCRIPT_NAMES and not args:
        args = ["run", "--loop"]
    cli.main(args=args, prog_name="kube-addons")
