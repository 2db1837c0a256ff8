"""A stand-in kubectl that records its argv and stdin and answers from a rule table.

Only for unit tests of argv, environment parsing and output filtering; everything that
touches a cluster is tested against the real control plane.
"""
from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Optional

SCRIPT = """#!{python}
import json, sys, time
state = {state!r}
argv = sys.argv[1:]
data = sys.stdin.read() if not sys.stdin.isatty() else None
with open(state + "/calls.jsonl", "a") as fh:
    fh.write(json.dumps({{"argv": argv, "stdin": data}}) + "\\n")
rules = json.load(open(state + "/rules.json"))
for rule in rules:
    if all(word in argv for word in rule["when"]):
        if rule.get("times") is not None:
            if rule["times"] <= 0:
                continue
            rule["times"] -= 1
            json.dump(rules, open(state + "/rules.json", "w"))
        time.sleep(rule.get("sleep", 0))
        sys.stdout.write(rule.get("stdout", ""))
        sys.stderr.write(rule.get("stderr", ""))
        sys.exit(rule.get("code", 0))
if "version" in argv:
    sys.stdout.write(json.dumps({{"clientVersion": {{"major": "1", "minor": "37",
        "gitVersion": "v1.37.2"}}}}))
"""


class FakeKubectl:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = str(root / "kubectl")
        Path(self.path).write_text(SCRIPT.format(python=sys.executable, state=str(root)))
        os.chmod(self.path, os.stat(self.path).st_mode | stat.S_IXUSR)
        self._rules: list[dict] = []
        self._save()

    def _save(self) -> None:
        (self.root / "rules.json").write_text(json.dumps(self._rules))

    def on(self, *words: str, stdout: str = "", stderr: str = "", code: int = 0,
           sleep: float = 0, times: Optional[int] = None) -> "FakeKubectl":
        """Answer calls whose argv contains all `words` (first matching rule wins)."""
        self._rules.append(dict(when=list(words), stdout=stdout, stderr=stderr, code=code,
                                sleep=sleep, times=times))
        self._save()
        return self

    def version(self, minor: int) -> "FakeKubectl":
        out = json.dumps({"clientVersion": {"major": "1", "minor": str(minor),
                                            "gitVersion": f"v1.{minor}.0"}})
        return self.on("version", stdout=out)

    def calls(self, skip_version: bool = True) -> list[list[str]]:
        return [c["argv"] for c in self._records()
                if not (skip_version and "version" in c["argv"])]

    def stdins(self) -> list[Optional[str]]:
        return [c["stdin"] for c in self._records() if "version" not in c["argv"]]

    def _records(self) -> list[dict]:
        path = self.root / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]
