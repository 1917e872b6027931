import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("COLUMNS", None)
    return env


def etlcore_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "etlcore.cli.main", *args]


@pytest.fixture
def cli(tmp_path):
    """Run ``etlcore ARGS`` in tmp_path; the CompletedProcess (text)."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(etlcore_cmd(*args), cwd=tmp_path, env=cli_env(), text=True,
                              capture_output=True, timeout=timeout)

    return run
