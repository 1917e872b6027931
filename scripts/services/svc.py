#!/usr/bin/env python3
"""Service harness CLI; see scripts/services/README.md.

Usage: python scripts/services/svc.py {fetch,start,stop,restart,status,logs,env} [NAME...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from svcharness.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
