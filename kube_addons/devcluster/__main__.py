from __future__ import annotations

import sys

from kube_addons.devcluster.cli import main

if __name__ == "__main__":
    sys.exit(main())
