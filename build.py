#!/usr/bin/env python3
"""The pack's command line in this repository: `cloudtrail-pack` with this folder as the project root.

    python build.py --help
"""

import sys
from pathlib import Path

from cloudtrail_pack.cli import main

if __name__ == "__main__":
    sys.exit(main(root=Path(__file__).resolve().parent))
