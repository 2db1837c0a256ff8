"""A Debian bookworm root folder laid out like the kube-addons image (image/Dockerfile).

The base (debootstrap minbase + python3 + python3-venv, the Dockerfile's `clean-install`
line) is built once per recipe and cached under ~/.cache/kube-addons/rootfs/<hash>/;
what changes with the checkout (the wheel and its dependencies, the shims,
namespace.yaml, kubectl) is installed afresh on every run. Every step says what it does.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "image"
SUITE = "bookworm"
RECIPE = {
    "suite": SUITE,
    "variant": "minbase",
    "include": ["python3", "python3-venv"],
    "recipe": 1,  # bump when the steps below change what the cached root holds
}
CACHE_ENV = "KUBE_ADDONS_ROOTFS_CACHE"
VENV = "/opt/kube-addons/venv"
SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")


def say(message: str) -> None:
    print(f"[image-test] {message}", file=sys.stderr, flush=True)


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=True, **kwargs)


def recipe_key(recipe: dict = RECIPE) -> str:
    arch = platform.machine()
    text = json.dumps({**recipe, "arch": arch}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root() -> Path:
    default = Path.home() / ".cache" / "kube-addons" / "rootfs"
    return Path(os.environ.get(CACHE_ENV) or default)


# -- the mirror, from the machine's own apt sources ------------------------------------------


def deb822_paragraphs(text: str) -> Iterator[dict[str, str]]:
    paragraph: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if paragraph:
                yield paragraph
            paragraph, key = {}, ""
        elif line.startswith("#"):
            continue
        elif line[0].isspace() and key:
            paragraph[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            paragraph[key] = value.strip()
    if paragraph:
        yield paragraph


def mirror_from_sources(sources: dict[str, str], suite: str = SUITE) -> Optional[str]:
    """The first `deb` source serving `suite` (not -updates or -security), from deb822
    `.sources` files first, then one-line `.list` files."""
    for name, text in sources.items():
        if not name.endswith(".sources"):
            continue
        for para in deb822_paragraphs(text):
            if (para.get("enabled", "yes") != "no" and "deb" in para.get("types", "").split()
                    and suite in para.get("suites", "").split() and para.get("uris")):
                return para["uris"].split()[0]
    for name, text in sources.items():
        if not name.endswith(".list"):
            continue
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] != ["deb"]:
                continue
            words = words[1:]
            if words and words[0].startswith("["):
                while words and not words[0].endswith("]"):
                    words.pop(0)
                words = words[1:]
            if len(words) >= 2 and words[1] == suite:
                return words[0]
    return None


def read_sources() -> dict[str, str]:
    found: dict[str, str] = {}
    if SOURCES_DIR.is_dir():
        for path in sorted(SOURCES_DIR.iterdir()):
            if path.suffix in (".sources", ".list"):
                found[str(path)] = path.read_text(errors="replace")
    if SOURCES_LIST.is_file():
        found[str(SOURCES_LIST)] = SOURCES_LIST.read_text(errors="replace")
    return found


def debian_mirror() -> str:
    mirror = mirror_from_sources(read_sources())
    if not mirror:
        raise RuntimeError(
            f"no Debian '{SUITE}' entry in {SOURCES_DIR}/*.sources or {SOURCES_LIST}; "
            "debootstrap needs a mirror")
    return mirror


# -- building the cached base -----------------------------------------------------------------


def ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    say("debootstrap is missing: apt-get update, then apt-get install debootstrap")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap", env=env)


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One image test at a time per cache: the root is refreshed in place."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def base_root() -> Path:
    """The debootstrapped root for RECIPE, built on first use."""
    home = cache_root() / recipe_key()
    root, done = home / "root", home / "complete"
    if done.is_file() and root.is_dir():
        say(f"reusing the cached {SUITE} root {root}")
        return root
    ensure_debootstrap()
    mirror = debian_mirror()
    home.mkdir(parents=True, exist_ok=True)
    partial = home / "root.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    say(f"debootstrap {SUITE} ({RECIPE['variant']}, with {', '.join(RECIPE['include'])}) "
        f"from the mirror of this machine's apt sources into {partial} (about a minute)")
    start = time.monotonic()
    with (home / "debootstrap.log").open("w") as log:
        run("debootstrap", f"--variant={RECIPE['variant']}",
            f"--include={','.join(RECIPE['include'])}", SUITE, str(partial), mirror,
            stdout=log, stderr=subprocess.STDOUT)
    partial.rename(root)
    done.write_text(json.dumps(RECIPE) + "\n")
    say(f"root ready in {time.monotonic() - start:.0f} s")
    return root


# -- what every run refreshes ----------------------------------------------------------------


def chroot(root: Path, *argv: str, **kwargs) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8"}
    return run("chroot", str(root), *argv, env=env, **kwargs)


def root_python(root: Path) -> str:
    out = chroot(root, "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])",
                 capture_output=True, text=True)
    return out.stdout.strip()


def download_wheels(wheel: Path, python_version: str, dest: Path) -> None:
    """The wheel's dependencies for the root's interpreter, fetched on this side (the
    root has no network configuration of its own), like a Dockerfile's build context."""
    machine = platform.machine()
    tag = python_version.replace(".", "")
    say(f"downloading the dependencies of {wheel.name} for CPython {python_version}")
    run(sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--dest", str(dest), "--only-binary=:all:", "--python-version", python_version,
        "--implementation", "cp", "--abi", f"cp{tag}", "--platform",
        f"manylinux2014_{machine}", "--platform", f"manylinux_2_17_{machine}", str(wheel))


def install(root: Path, wheel: Path, kubectl: Path) -> None:
    """The Dockerfile's steps after `clean-install`, into the root."""
    wheels = root / "tmp" / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    download_wheels(wheel, root_python(root), wheels)
    shutil.copy2(wheel, wheels / wheel.name)
    say(f"installing {wheel.name} into a fresh {VENV} inside the root")
    shutil.rmtree(root / VENV.lstrip("/"), ignore_errors=True)
    chroot(root, "python3", "-m", "venv", VENV)
    chroot(root, f"{VENV}/bin/pip", "install", "--quiet", "--no-index",
           "--disable-pip-version-check", "--find-links", "/tmp/wheels",
           f"/tmp/wheels/{wheel.name}")
    shutil.rmtree(wheels)
    link = root / "usr/local/bin/kube-addons"
    link.unlink(missing_ok=True)
    link.symlink_to(f"{VENV}/bin/kube-addons")
    say("copying the shims and namespace.yaml to /opt, kubectl to /usr/local/bin")
    for name in ("kube-addons.sh", "kube-addons-main.sh", "namespace.yaml"):
        target = root / "opt" / name
        shutil.copyfile(IMAGE / name, target)
        target.chmod(0o755 if name.endswith(".sh") else 0o644)
    target = root / "usr/local/bin/kubectl"
    shutil.copyfile(kubectl, target)
    target.chmod(0o755)
    out = chroot(root, "/usr/local/bin/kube-addons", "--version", capture_output=True, text=True)
    say(f"inside the root: {out.stdout.strip()}")


@contextmanager
def proc_mounted(root: Path) -> Iterator[None]:
    """/proc inside the root, as every container has it (kubectl and the `sh` library
    list a process's open files there)."""
    target = root / "proc"
    if os.path.ismount(target):
        yield
        return
    say(f"mounting proc on {target}")
    run("mount", "-t", "proc", "proc", str(target))
    try:
        yield
    finally:
        if subprocess.run(["umount", str(target)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], check=False)


def find_wheel() -> Path:
    wheels = sorted((REPO / "dist").glob("kube_addons-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {REPO / 'dist'} (run `make dist`): {wheels}")
    return wheels[0]
