from __future__ import annotations

from kube_addons.cli import main

if __name__ == "__main__":
    main()
