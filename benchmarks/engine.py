"""Issue "core engine": etlcore compiled vs ETLCORE_PURE_PYTHON=1 vs a plain Python loop.

    python benchmarks/engine.py [--quick]

Word count (W1) and the keyed 1 s tumbling-window sum (W2), each engine in its
own subprocess (the kernel selector reads the environment at import). Prints
records/s and the ratios; the target is compiled >= 5x pure on W2, the
aggregation-heavy workload. A thin entry into the suite (``python -m benchmarks``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.__main__ import main  # noqa: E402 - after the path fix above

if __name__ == "__main__":
    argv = ["--engines", "etlcore", "--workloads", "W1,W2", *sys.argv[1:]]
    code = main(argv)
    sys.exit(code)
