"""The contract kit fails connectors that break the protocol, and names the broken rule.

Runs pytest on ``broken_connectors.py`` in a subprocess and checks which
contract tests fail for which connector.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def outcomes(tmp_path: Path) -> dict[str, str]:
    shutil.copy(HERE / "broken_connectors.py", tmp_path / "test_broken.py")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "test_broken.py", "-v", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    result = {}
    for line in proc.stdout.splitlines():  # test_broken.py::TestX::test_y PASSED  [ 5%]
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("test_broken.py::"):
            result[parts[0].split("::", 1)[1]] = parts[1]
    assert result, proc.stdout + proc.stderr
    return result


def test_each_bug_fails_the_rule_it_breaks(tmp_path: Path) -> None:
    got = outcomes(tmp_path)
    failed = {k for k, v in got.items() if v == "FAILED"}
    # appending without a stored batch id: replays and repeated commits store twice
    assert "TestAppendingSink::test_replayed_batch_converges" in failed
    assert "TestAppendingSink::test_repeated_commit_stores_once" in failed
    assert got["TestAppendingSink::test_crash_between_write_and_commit"] == "PASSED"
    assert got["TestAppendingSink::test_writer_ships_to_workers[pickle]"] == "PASSED"
    # a config error without the `where` prefix
    assert "TestAppendingSink::test_config_errors_name_the_key" in failed
    # a lock in the writer cannot ship
    assert "TestLockedSink::test_writer_ships_to_workers[pickle]" in failed
    assert "TestLockedSink::test_writer_ships_to_workers[cloudpickle]" in failed
    assert got["TestLockedSink::test_replayed_batch_converges"] == "PASSED"
    # a password in a repr
    assert "TestChattySink::test_secrets_stay_out_of_reprs_and_errors" in failed
    assert got["TestAppendingSink::test_secrets_stay_out_of_reprs_and_errors"] == "PASSED"
    # records that are not a function of the range
    assert "TestRandomSource::test_replayed_range_reads_the_same" in failed
    assert "TestRandomSource::test_reader_ships_to_workers[pickle]" in failed
    assert got["TestRandomSource::test_bad_input"] == "SKIPPED"
