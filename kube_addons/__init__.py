"""kube-addons: keeps the manifests under ADDON_PATH applied, as kube-addons.sh did."""
from __future__ import annotations

__version__ = "0.1.0"
