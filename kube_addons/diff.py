"""`kube-addons diff`: drift between each reconciled manifest and its live object.

`kubectl diff` of the two reconcile selectors (what the next pass would change), with
Secrets masked by kube_addons.maskdiff. Exit codes are kubectl diff's: 0 no drift,
1 drift, >1 error.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from typing import Mapping, TextIO

from kube_addons.config import Config
from kube_addons.kubectl import Kubectl, Result
from kube_addons.maskdiff import write_script
from kube_addons.profiles import DEPRECATED_SELECTOR, RECONCILE_SELECTOR

EXIT_SAME, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
SELECTORS = (("deprecated label", DEPRECATED_SELECTOR), ("addon-manager label", RECONCILE_SELECTOR))


def diff_argv(addon_path: str, selector: str) -> tuple[str, ...]:
    return ("diff", "-f", addon_path, "-l", selector, "--recursive")


def combine(codes: list[int]) -> int:
    """An error anywhere wins, then drift anywhere."""
    errors = [code for code in codes if code > EXIT_DRIFT]
    if errors:
        return errors[0]
    return EXIT_DRIFT if EXIT_DRIFT in codes else EXIT_SAME


@dataclass
class DiffResult:
    results: list[Result]

    @property
    def exit_code(self) -> int:
        return combine([result.exit_code for result in self.results])


def run_diff(cfg: Config, base_env: Mapping[str, str], out: TextIO, err: TextIO,
             on_result=None) -> DiffResult:
    workdir = tempfile.mkdtemp(prefix="kube-addons-diff-")
    try:
        env = dict(base_env)
        env["KUBECTL_EXTERNAL_DIFF"] = write_script(workdir)
        kubectl = Kubectl(cfg.kubectl_bin, cfg.kubectl_opts, timeout=cfg.kubectl_timeout,
                          env=env, on_result=on_result)
        results = []
        for _title, selector in SELECTORS:
            result = kubectl.run(*diff_argv(cfg.addon_path, selector))
            out.write(result.stdout)
            out.flush()
            err.write(result.stderr)
            err.flush()
            results.append(result)
        return DiffResult(results)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
