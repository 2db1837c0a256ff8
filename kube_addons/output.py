"""Reading kubectl's output: upstream's line filters, success lines of both eras, errors.

kubectl <= 1.10 prints `deployment "foo" configured`; later ones print
`deployment.apps/foo configured`. Both forms are understood.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

OPERATIONS = ("created", "configured", "unchanged", "pruned", "serverside-applied")

_NEW_FORM = re.compile(
    r"^(?P<kind>[a-z0-9.-]+)/(?P<name>\S+) (?P<op>created|configured|unchanged|pruned"
    r"|serverside-applied)(?: \((?P<dry>[a-z ]*dry run)\))?$"
)
_OLD_FORM = re.compile(
    r'^(?P<kind>[a-z0-9.-]+) "(?P<name>[^"]+)" (?P<op>created|configured|unchanged|pruned'
    r"|serverside-applied)(?: \((?P<dry>[a-z ]*dry run)\))?$"
)

ALREADY_EXISTS = "AlreadyExists"
NO_OBJECTS = "no objects passed to"


@dataclass(frozen=True)
class Operation:
    kind: str
    name: str
    op: str
    dry_run: bool = False


def parse_operation(line: str) -> "Operation | None":
    text = line.strip()
    match = _NEW_FORM.match(text) or _OLD_FORM.match(text)
    if not match:
        return None
    return Operation(match["kind"], match["name"], match["op"], bool(match["dry"]))


def split_lines(text: str) -> list[str]:
    """Lines as grep sees them: a trailing newline does not make an empty line."""
    if not text:
        return []
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def drop_containing(text: str, needle: str) -> list[str]:
    """`grep -v NEEDLE`: drop every line that contains the substring anywhere."""
    return [line for line in split_lines(text) if needle not in line]


def is_warning(line: str) -> bool:
    return line.startswith("Warning:") or line.startswith("W") and bool(
        re.match(r"^W\d{4} ", line)
    )


@dataclass
class Tally:
    """Counts of what kubectl reported, for `once`'s summary line."""

    ops: Counter = field(default_factory=Counter)
    errors: int = 0

    def add_output(self, text: str) -> None:
        for line in split_lines(text):
            op = parse_operation(line)
            if op is not None:
                self.ops[op.op] += 1

    def merge(self, other: "Tally") -> None:
        self.ops.update(other.ops)
        self.errors += other.errors

    def summary(self) -> str:
        return (
            f"created {self.ops['created']}, configured {self.ops['configured']}, "
            f"unchanged {self.ops['unchanged']}, pruned {self.ops['pruned']}, "
            f"errors {self.errors}"
        )


def error_lines(text: str, benign: tuple[str, ...] = ()) -> list[str]:
    """The lines of a failed call that report a real problem.

    Success lines, warnings, blank lines and lines holding a benign marker (for example
    AlreadyExists for `create` of EnsureExists objects) are not problems.
    """
    problems = []
    for line in split_lines(text):
        if not line.strip() or parse_operation(line) or is_warning(line):
            continue
        if line[0].isspace() or line.startswith("* "):
            continue  # continuation of the error line above
        if any(marker in line for marker in benign):
            continue
        problems.append(line)
    return problems
