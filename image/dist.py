"""`make dist`: the wheel and a single-file zipapp with its dependencies inside.

    python image/dist.py [--python-version 3.9]

dist/kube_addons-<version>-py3-none-any.whl   what the image installs
dist/kube-addons.pyz                          needs nothing but a python3 >= 3.9

The zipapp's dependencies are resolved for the oldest interpreter it promises to run on
(newer click releases need 3.10), and only their Python code is kept: compiled
extensions cannot be imported from a zip and PyYAML falls back to its pure-Python
loader without its own.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
STAGE = ROOT / "build" / "pyz"
PYZ = DIST / "kube-addons.pyz"
# Not needed at run time, or not importable from a zip.
DROP_SUFFIXES = (".so", ".pyd", ".pyc")
DROP_DIRS = ("__pycache__", "bin")


def say(message: str) -> None:
    print(f"[dist] {message}", flush=True)


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        check=True,
    )


def build_wheel() -> Path:
    for old in DIST.glob("kube_addons-*.whl"):
        old.unlink()
    say("building the wheel")
    pip("wheel", "--no-deps", "--wheel-dir", str(DIST), str(ROOT))
    wheels = sorted(DIST.glob("kube_addons-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {DIST}, found {wheels}")
    return wheels[0]


def strip(stage: Path) -> None:
    for path in sorted(stage.rglob("*"), reverse=True):
        if path.is_dir() and (path.name in DROP_DIRS and path.parent == stage
                              or path.name == "__pycache__"):
            shutil.rmtree(path)
        elif path.is_file() and path.name.endswith(DROP_SUFFIXES):
            path.unlink()


def build_pyz(wheel: Path, python_version: str) -> Path:
    shutil.rmtree(STAGE, ignore_errors=True)
    say(f"installing {wheel.name} and its dependencies for Python {python_version} "
        f"into {STAGE.relative_to(ROOT)}")
    pip("install", "--target", str(STAGE), "--no-compile", "--only-binary=:all:",
        "--python-version", python_version, str(wheel))
    strip(STAGE)
    say(f"writing {PYZ.relative_to(ROOT)}")
    zipapp.create_archive(STAGE, PYZ, interpreter="/usr/bin/env python3",
                          main="kube_addons.cli:main", compressed=True)
    return PYZ


def check(pyz: Path) -> None:
    """Isolated mode: no site-packages, no user site, no PYTHON* variables."""
    out = subprocess.run(["python3", "-I", str(pyz), "--version"], capture_output=True,
                         text=True, check=True, cwd="/")
    say(f"python3 -I {pyz.relative_to(ROOT)} --version -> {out.stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default="3.9",
                        help="oldest Python the zipapp must run on [default: 3.9]")
    args = parser.parse_args()
    DIST.mkdir(exist_ok=True)
    wheel = build_wheel()
    check(build_pyz(wheel, args.python_version))
    say(f"done: {wheel.relative_to(ROOT)}, {PYZ.relative_to(ROOT)} "
        f"({PYZ.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
