"""A directory -> files job commits behind, and a failure in that window converges.

The directory source plans ahead: batch n+1's plan (a listing, the manifest extended)
may run before batch n's commit is durable, so with a checkpoint the scheduler commits
n (the files sink's renames, then its record) on the plan-log thread while n+1's tasks
run, and logs n+1's plan beside that commit. A commit that fails there leaves the
manifest extended for n+1, n's commit record unwritten, n+1's plan logged (two past the
last commit, which recovery replays in order) and n+1's staged parts on disk; the
restart must replay n, then n+1 with its logged plan, and store every line exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from etlcore import StreamingContext
from etlcore.batch import BatchInfo
from etlcore.connectors.directory import DirectorySource
from etlcore.connectors.files import FilesSink

FILES = 6
FAILED_BATCH = 2


class _Arrivals:
    """Files that arrive one per listing, as a feed dropping a file a batch would."""

    def __init__(self, folder: Path, names: list[str]):
        self.folder = folder
        self.pending = list(names)

    def drop(self) -> None:
        if self.pending:
            name = self.pending.pop(0)
            (self.folder / name).write_text("".join(f"{name} line {i}\n" for i in range(5)))


class _CommitProbe:
    """Wraps ``FilesSink.commit``: notes each commit's thread and the log and manifest it
    sees, and fails batch ``fail_at`` once, after batch ``fail_at + 1``'s file entered the
    manifest (its plan runs beside this commit; in line it never would, and the wait ends)."""

    def __init__(self, ckpt: Path, fail_at: int | None):
        self.ckpt = ckpt
        self.fail_at = fail_at
        self.seen: list[dict[str, Any]] = []

    def manifest_entries(self) -> int:
        (manifest,) = (p for p in self.ckpt.rglob("manifest*") if p.is_file())
        return len(manifest.read_bytes().splitlines())

    def wrap(self, commit: Any) -> Any:
        def probe(sink: FilesSink, batch: BatchInfo, messages: list[Any]) -> None:
            n = batch.batch_id
            if n == self.fail_at:  # behind, batch n+1's plan extends the manifest meanwhile
                deadline = time.monotonic() + 10
                while self.manifest_entries() < n + 2 and time.monotonic() < deadline:
                    time.sleep(0.005)
            self.seen.append({
                "batch": n,
                "main": threading.current_thread() is threading.main_thread(),
                "manifest": self.manifest_entries(),
            })
            if n == self.fail_at:
                self.fail_at = None
                raise OSError(f"the store refused batch {n}")
            commit(sink, batch, messages)
        return probe


def _run(tmp_path: Path, ckpt: Path, out: Path, arrivals: _Arrivals,
         monkeypatch: pytest.MonkeyPatch, probe: _CommitProbe) -> None:
    discover = DirectorySource.discover

    def arriving(source: DirectorySource) -> list[dict[str, Any]]:
        arrivals.drop()
        return discover(source)

    with monkeypatch.context() as m:
        m.setattr(DirectorySource, "discover", arriving)
        m.setattr(FilesSink, "commit", probe.wrap(FilesSink.commit))
        ctx = StreamingContext(1.0, ckpt, clock="manual", name="dir-behind")
        ctx.source("directory", path=str(arrivals.folder), format="text",
                   max_files_per_batch=1).sink("files", path=str(out), format="text")
        try:
            ctx.run(until_idle=True)
        finally:
            ctx.stop()


def _stored(out: Path) -> Counter[str]:
    return Counter(line for part in out.rglob("part-*") if not part.name.startswith(".")
                   for line in part.read_text().splitlines())


def test_directory_to_files_commits_behind_and_a_failed_commit_converges(tmp_path, monkeypatch):
    names = [f"f{k:02d}.txt" for k in range(FILES)]
    inbox, ckpt, out = tmp_path / "in", tmp_path / "ckpt", tmp_path / "out"
    inbox.mkdir()
    arrivals = _Arrivals(inbox, names)
    probe = _CommitProbe(ckpt, FAILED_BATCH)
    with pytest.raises(OSError, match=f"refused batch {FAILED_BATCH}"):
        _run(tmp_path, ckpt, out, arrivals, monkeypatch, probe)
    assert probe.seen and not any(s["main"] for s in probe.seen)  # on the plan-log thread
    failed = probe.seen[-1]
    assert failed["batch"] == FAILED_BATCH
    # batch 3 was planned (its file in the manifest), its plan logged beside batch 2's
    # commit and its tasks run; batch 2's commit record is not in the log
    assert failed["manifest"] == FAILED_BATCH + 2
    assert not (ckpt / "commits" / f"{FAILED_BATCH:012d}.json").exists()
    assert (ckpt / "plans" / f"{FAILED_BATCH + 1:012d}.json").exists()
    assert any((out / f"batch-{FAILED_BATCH + 1:012d}").glob(".*"))  # staged, not renamed

    _run(tmp_path, ckpt, out, arrivals, monkeypatch, _CommitProbe(ckpt, None))
    ref_in = tmp_path / "ref-in"
    ref_in.mkdir()
    _run(tmp_path, tmp_path / "ref-ckpt", tmp_path / "ref", _Arrivals(ref_in, names),
         monkeypatch, _CommitProbe(tmp_path / "ref-ckpt", None))
    want = _stored(tmp_path / "ref")
    assert sum(want.values()) == 5 * FILES and max(want.values()) == 1
    assert _stored(out) == want
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "ref").iterdir())
