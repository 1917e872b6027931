"""The selector: compiled by default, references on request, loud when unbuilt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_REPORT = (
    "import etlcore._fast as f; "
    "print(f.COMPILED, f.partition.__name__, f.hashagg.__name__, f.window.__name__)"
)

# Hide the compiled modules, as on a checkout where `pip install -e .` never ran.
_UNBUILT = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("etlcore._fast.") and name.endswith("_c"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
import etlcore._fast
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ETLCORE_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_compiled_by_default() -> None:
    proc = run(_REPORT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "True",
        "etlcore._fast.partition_c",
        "etlcore._fast.hashagg_c",
        "etlcore._fast.window_c",
    ]


def test_pure_python_switch() -> None:
    proc = run(_REPORT, ETLCORE_PURE_PYTHON="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "False",
        "etlcore._fast.partition_ref",
        "etlcore._fast.hashagg_ref",
        "etlcore._fast.window_ref",
    ]
    # the switch also works on a checkout that was never built
    proc = run(_UNBUILT + "print(etlcore._fast.COMPILED)", ETLCORE_PURE_PYTHON="1")
    assert proc.stdout.strip() == "False", proc.stderr


def test_unbuilt_kernels_fail_with_a_fix() -> None:
    proc = run(_UNBUILT)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: etlcore's C kernels")
    assert "not built" in last and "pip install -e ." in last and "ETLCORE_PURE_PYTHON=1" in last


def test_require_compiled_refuses_pure_python() -> None:
    proc = run(_REPORT, ETLCORE_PURE_PYTHON="1", ETLCORE_REQUIRE_COMPILED="1")
    assert proc.returncode != 0
    assert "ETLCORE_REQUIRE_COMPILED=1" in proc.stderr
    assert run(_REPORT, ETLCORE_REQUIRE_COMPILED="1").returncode == 0
