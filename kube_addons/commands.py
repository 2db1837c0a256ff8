"""The operator and CI side of the CLI: `plan`, `diff`, `validate`, and the options that
`run` gains (--watch, --metrics-addr, --log-format, --leader-election=lease).

Nothing here changes a default: without these commands and flags, `run` and `once`
behave and print exactly as upstream. cli.py stays the owner of the shared options and
the Config; this module receives what it needs through `register()`.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from kube_addons import manifests
from kube_addons.config import LEADER_LEASE, Config, ConfigError
from kube_addons.election import (
    DEFAULT_DURATION,
    DEFAULT_LEASE,
    DEFAULT_RENEW_PERIOD,
    ElectionError,
    LeaseElector,
    check_timing,
    new_identity,
    parse_lease_name,
)
from kube_addons.jsonlog import FORMATS, JSON, TEXT, JsonLog, make_log
from kube_addons.kubectl import Kubectl, Result
from kube_addons.logs import Log
from kube_addons.manager import Manager, PassReport

# The feature modules (prometheus_client, watchdog, plan/diff/validate) load only when
# used, so the plain daemon stays small (issue #8: RSS).
if TYPE_CHECKING:
    from kube_addons.metrics import Metrics, MetricsServer
    from kube_addons.watch import Watcher

PLAN_EXIT_ERROR = 1  # kube_addons.plan.EXIT_ERROR
DIFF_EXIT_ERROR = 2  # kube_addons.diff.EXIT_ERROR

ENV_WATCH = "KUBE_ADDONS_WATCH"
ENV_METRICS_ADDR = "KUBE_ADDONS_METRICS_ADDR"
ENV_LOG_FORMAT = "KUBE_ADDONS_LOG_FORMAT"
ENV_LEASE = "KUBE_ADDONS_LEASE"
ENV_LEASE_DURATION = "KUBE_ADDONS_LEASE_DURATION"
ENV_LEASE_RENEW = "KUBE_ADDONS_LEASE_RENEW_PERIOD"

ConfigLoader = Callable[..., Config]


def _option(flag: str, env: str, text: str, **kwargs: Any) -> Callable:
    return click.option(flag, envvar=env, help=f"{text} (env: {env})", **kwargs)


def log_format_option(func: Callable) -> Callable:
    return _option(
        "--log-format", ENV_LOG_FORMAT,
        "text: upstream's lines, byte for byte; json: one object per line (ts, level, msg, "
        "pass id, kubectl verb/class/exit code/duration) [default: text].",
        type=click.Choice(FORMATS), default=TEXT,
    )(func)


def run_options(func: Callable) -> Callable:
    options = [
        _option("--watch", ENV_WATCH,
                "With --loop: start a pass within ~1 s of a change under ADDON_PATH "
                "(inotify, polling fallback); the interval pass stays.", is_flag=True,
                default=False),
        _option("--metrics-addr", ENV_METRICS_ADDR,
                "Serve Prometheus /metrics and /healthz on HOST:PORT (e.g. 127.0.0.1:9102).",
                default=None),
        _option("--lease", ENV_LEASE,
                f"Lease used by --leader-election=lease [default: {DEFAULT_LEASE}].",
                default=DEFAULT_LEASE),
        _option("--lease-duration", ENV_LEASE_DURATION,
                f"Seconds a holder's Lease lasts without renewal [default: "
                f"{DEFAULT_DURATION:g}].", type=float, default=DEFAULT_DURATION),
        _option("--lease-renew-period", ENV_LEASE_RENEW,
                f"Seconds between renewals and between candidates' tries [default: "
                f"{DEFAULT_RENEW_PERIOD:g}].", type=float, default=DEFAULT_RENEW_PERIOD),
    ]
    for option in reversed(options):
        func = option(func)
    return log_format_option(func)


# -- run -----------------------------------------------------------------------------------


class RunExtras:
    """Wires the optional features around a Manager without touching its pass."""

    def __init__(self, params: dict, cfg: Config, loop: bool) -> None:
        self.cfg = cfg
        self.watch = bool(params.get("watch"))
        self.log_format = str(params.get("log_format") or TEXT)
        self.metrics_addr: Optional[str] = params.get("metrics_addr")  # type: ignore[assignment]
        self.lease = str(params.get("lease") or DEFAULT_LEASE)
        self.lease_duration = float(params.get("lease_duration") or DEFAULT_DURATION)
        self.lease_renew = float(params.get("lease_renew_period") or DEFAULT_RENEW_PERIOD)
        if self.watch and not loop:
            raise click.UsageError("--watch needs --loop")
        self.addr = None
        if self.metrics_addr:
            from kube_addons.metrics import parse_addr

            self.addr = parse_addr(self.metrics_addr)
        if cfg.leader_election == LEADER_LEASE:
            parse_lease_name(self.lease)
            check_timing(self.lease_duration, self.lease_renew)
        self.log: Log = make_log(self.log_format)
        self.metrics: Optional[Metrics] = None
        self.server: Optional[MetricsServer] = None
        self.elector: Optional[LeaseElector] = None
        self.watcher: Optional[Watcher] = None
        self._manager: Optional[Manager] = None
        self.pass_id = 0

    def on_result(self, result: Result) -> None:
        if self.metrics is not None:
            self.metrics.observe_call(result)
        if isinstance(self.log, JsonLog):
            self.log.observe_call(result)

    def _count_call(self, result: Result) -> None:
        if self.metrics is not None:
            self.metrics.observe_call(result)

    def attach(self, manager: Manager) -> None:
        manager.kubectl.on_result = self.on_result
        if isinstance(self.log, JsonLog):
            self._number_passes(manager, self.log)
        if self.addr is not None:
            from kube_addons.metrics import Metrics, MetricsServer

            self.metrics = Metrics(self.cfg.interval)
            self.server = MetricsServer(self.metrics, *self.addr).start()
            host, port = self.server.address
            self.log.info(f"== Serving metrics on http://{host}:{port}/metrics and /healthz ==")
        if self.cfg.leader_election == LEADER_LEASE:
            # Its own kubectl: SIGTERM stops the manager's, and the release must still run.
            # Renewals are counted in metrics but not logged: text mode logs none either.
            kubectl = Kubectl(self.cfg.kubectl_bin, self.cfg.kubectl_opts,
                              timeout=self.cfg.kubectl_timeout, on_result=self._count_call)
            self.elector = LeaseElector(
                kubectl, self.log, new_identity(self.cfg.hostname), self.lease,
                self.lease_duration, self.lease_renew, on_change=self._leader_changed,
            )
            manager.election = self.elector
            self._manager = manager

    def _leader_changed(self, leading: bool) -> None:
        if self.metrics is not None:
            self.metrics.set_leader(leading)
        if leading and self._manager is not None:
            # A new leader acts now, not at the end of the interval it slept through.
            self._manager.wake.set()

    def _number_passes(self, manager: Manager, log: JsonLog) -> None:
        """JSON lines carry the pass id; the pass itself stays unaware of it."""
        inner = manager.run_pass

        def run_pass(*args: Any, **kwargs: Any) -> PassReport:
            self.pass_id += 1
            log.bind(pass_id=self.pass_id)
            try:
                return inner(*args, **kwargs)
            finally:
                log.bind(pass_id=None)

        manager.run_pass = run_pass  # type: ignore[method-assign]

    def before_passes(self, manager: Manager) -> None:
        if self.elector is not None:
            self.elector.start()
            manager.wake.clear()  # the first pass is about to run anyway
        if self.watch:
            from kube_addons.watch import Watcher

            self.watcher = Watcher(self.cfg.addon_path, lambda: self._changed(manager))
            mode = self.watcher.start()
            why = f" ({self.watcher.reason})" if self.watcher.reason else ""
            self.log.info(f"== Watching {self.cfg.addon_path} for changes ({mode}{why}) ==")

    def _changed(self, manager: Manager) -> None:
        self.log.info(f"== Change under {self.cfg.addon_path}, starting a pass ==")
        manager.wake.set()

    def on_pass(self, report: PassReport) -> None:
        if self.metrics is not None:
            self.metrics.observe_pass(report)

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.elector is not None:
            self.elector.stop(release=True)
        if self.server is not None:
            self.server.stop()


def attach_log(manager: Manager, log: Log) -> None:
    """JSON mode for `once`: a record per kubectl call, fields on its output lines."""
    if isinstance(log, JsonLog):
        manager.kubectl.on_result = log.observe_call
        log.bind(pass_id=1)


def make_run_extras(params: dict, cfg: Config, loop: bool) -> RunExtras:
    try:
        return RunExtras(params, cfg, loop)
    except (ValueError, ElectionError) as exc:
        raise click.UsageError(str(exc)) from None


def once_summary(log: Log, text: str, report: PassReport) -> None:
    """`once`'s last line; in JSON mode a record with the counts as fields."""
    if isinstance(log, JsonLog):
        ops = report.tally.ops
        log.record("INFO", text, created=ops["created"], configured=ops["configured"],
                   unchanged=ops["unchanged"], pruned=ops["pruned"],
                   errors=report.tally.errors)
    else:
        click.echo(text)


# -- plan / diff / validate --------------------------------------------------------------


class _PlanCommand(click.Command):
    """Usage errors exit 1 here: 2 means "changes pending" for plan."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = PLAN_EXIT_ERROR
            raise


def _config(load: ConfigLoader, params: dict, code: int, **kwargs: Any) -> Config:
    try:
        return load(params, **kwargs)
    except ConfigError as exc:
        click.echo(f"kube-addons: error: {exc}", err=True)
        sys.exit(code)


def register(group: click.Group, config_options: Callable, load: ConfigLoader) -> None:
    """Add plan, diff and validate to the CLI group."""

    @group.command(cls=_PlanCommand)
    @click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
                  help="table for people, json for machines [default: table].")
    @config_options
    def plan(output: str, **params: object) -> None:
        """Show what the next pass would do, from a server-side dry run (for CI).

        What ensure would create, and what reconcile would create, configure and prune,
        grouped by action. Object data is never shown. Exit 0: nothing to do; 2: changes
        pending; 1: error (terraform plan -detailed-exitcode).

        \b
        Example:
          ADDON_PATH=./addons KUBECTL_OPTS=--kubeconfig=$HOME/.kube/config kube-addons plan
          kube-addons plan -o json | jq '.changes[] | select(.action=="prune")'
        """
        cfg = _config(load, params, PLAN_EXIT_ERROR)
        kubectl = Kubectl(cfg.kubectl_bin, cfg.kubectl_opts, timeout=cfg.kubectl_timeout)
        manager = Manager(cfg, kubectl, Log(sys.stderr, sys.stderr), threading.Event())
        from kube_addons.plan import make_plan, render_json, render_table

        result = make_plan(manager, manifests.scan(cfg.addon_path))
        click.echo(render_json(result) if output == "json" else render_table(result), nl=False)
        sys.exit(result.exit_code)

    @group.command()
    @config_options
    def diff(**params: object) -> None:
        """Show the drift between each reconciled manifest and its live object.

        `kubectl diff` underneath (what the next pass would change on Reconcile and
        deprecated-label objects), Secret values masked. Exit 0: no drift; 1: drift;
        >1: error (kubectl diff's codes).

        \b
        Example:
          ADDON_PATH=./addons KUBECTL_OPTS=--kubeconfig=$HOME/.kube/config kube-addons diff
        """
        cfg = _config(load, params, DIFF_EXIT_ERROR)
        from kube_addons.diff import run_diff

        result = run_diff(cfg, os.environ, sys.stdout, sys.stderr)
        sys.exit(result.exit_code)

    @group.command(name="validate")
    @click.argument("path", required=False)
    @click.option("--strict", is_flag=True, help="Treat warnings as errors.")
    @click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
                  help="text: path:line: level: message; json: one document.")
    @config_options
    def validate_cmd(path: Optional[str], strict: bool, output: str, **params: object) -> None:
        """Check an addon directory offline (no cluster, no kubectl needed).

        YAML errors with file:line, objects without a mode label (ignored: warning),
        unknown mode values, one identity in two files or in both modes, kinds the prune
        allowlist misses (their removal prunes nothing: warning), namespaced objects
        without a namespace. PATH defaults to ADDON_PATH. Exit 1 on errors (and, with
        --strict, on warnings), else 0.

        \b
        Example:
          kube-addons validate ./addons --strict
        """
        cfg = _config(load, params, 2, check_kubectl=False)
        from kube_addons.validate import validate

        report = validate(manifests.scan(path or cfg.addon_path), cfg.prune_allowlist)
        if output == JSON:
            doc = {"exit_code": report.exit_code(strict), "objects": report.objects,
                   "files": report.files,
                   "errors": [f.as_dict() for f in report.errors],
                   "warnings": [f.as_dict() for f in report.warnings]}
            click.echo(json.dumps(doc, indent=2))
        else:
            for finding in report.findings:
                click.echo(finding.text())
            click.echo(report.summary())
        sys.exit(report.exit_code(strict))
