"""A directory reader on a remote store (``read_ahead`` > 1) keeps fetching past its batch's
end: the next batch finds its first files fetched, each file is read once, and a fetch
that failed ahead of its batch is made again by that batch."""

from __future__ import annotations

import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

from etlcore.clock import ManualClock
from etlcore.connectors.directory import DirectorySource, DirectorySourceConfig
from etlcore.plugin.fs import LocalFileSystem
from etlcore.source import Rejected, SourceContext


class Remote(LocalFileSystem):
    """Local files read as a remote store would be, counting reads; ``fail`` names files
    whose first read fails."""

    def __init__(self, fail: tuple[str, ...] = (), slow: str = "") -> None:
        self.read_ahead = 2
        self.reads: list[str] = []
        self.fail = set(fail)
        self.lock = threading.Lock()
        self.slow, self.go = slow, threading.Event()  # ``slow``'s read waits for ``go``

    def __getstate__(self) -> dict[str, Any]:
        return {"fail": self.fail}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(tuple(state["fail"]))  # type: ignore[misc]

    def read(self, path: Any, start: int = 0, length: int | None = None) -> bytes:
        name = os.path.basename(path)
        with self.lock:
            self.reads.append(name)
            if name in self.fail:
                self.fail.discard(name)
                raise OSError(5, "the store hiccuped")
        if name == self.slow:
            assert self.go.wait(30)
        return super().read(path, start, length)


def setup(tmp_path: Path, fs: Remote) -> tuple[DirectorySource, Any]:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for f in range(6):
        (inbox / f"{f}.txt").write_text(f"{f}-a\n{f}-b\n")
        os.utime(inbox / f"{f}.txt", ns=(f * 10**9, f * 10**9))
    src = DirectorySource(DirectorySourceConfig(path=str(inbox), max_files_per_batch=2), fs=fs)
    src.open(SourceContext("directory-1", ManualClock(), tmp_path / "state"))
    reader = src.reader()
    reader.open(None)  # type: ignore[arg-type]
    return src, reader


def reads_reach(fs: Remote, n: int) -> list[str]:
    deadline = time.monotonic() + 30
    while len(fs.reads) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return sorted(fs.reads)


def shown(records: Any) -> list[Any]:
    return [r.reason if isinstance(r, Rejected) else r for r in records]


def test_the_next_batch_is_fetched_during_this_one_and_each_file_once(tmp_path: Path) -> None:
    """The window runs on past the batch's last file (while the task commits): the next
    batch's files are fetched up to the hold, twice ``read_ahead``."""
    fs = Remote()
    src, reader = setup(tmp_path, fs)
    try:
        got, start = [], 0
        for batch in range(3):
            end = src.plan("0", start, None)
            assert end == start + 2
            got += shown(reader.read("0", start, end))
            # this batch's two files, and the next four (the hold) on their way
            assert reads_reach(fs, min(6, end + 4)) == [f"{f}.txt" for f in range(min(6, end + 4))]
            start = end
            assert batch < 2 or end == 6
        assert got == [f"{f}-{s}" for f in range(6) for s in "ab"]
        assert sorted(fs.reads) == [f"{f}.txt" for f in range(6)]  # none read twice
    finally:
        reader.close()


def test_a_slow_first_file_does_not_hold_the_others_slots(tmp_path: Path) -> None:
    """While the task waits for a slow first file, each fetch that ends starts the next
    (up to the hold past the task's file), not only the task's taking the first; the
    records still come in plan order."""
    fs = Remote(slow="0.txt")
    src, reader = setup(tmp_path, fs)
    try:
        src.plan("0", 0, None)  # lists all six
        got: list[Any] = []
        task = threading.Thread(target=lambda: got.extend(shown(reader.read("0", 0, 6))))
        task.start()
        # 0.txt in flight the whole time; 1-4 (the hold: 2 x read_ahead) fetched meanwhile
        assert reads_reach(fs, 5) == [f"{f}.txt" for f in range(5)]
        time.sleep(0.2)
        assert sorted(fs.reads) == [f"{f}.txt" for f in range(5)]  # not past the hold
        fs.go.set()
        task.join(30)
        assert got == [f"{f}-{s}" for f in range(6) for s in "ab"]
    finally:
        fs.go.set()
        reader.close()


def test_a_fetch_that_failed_ahead_is_made_again_by_its_batch(tmp_path: Path) -> None:
    fs = Remote(fail=("2.txt",))
    src, reader = setup(tmp_path, fs)
    try:
        assert shown(reader.read("0", 0, src.plan("0", 0, None))) == ["0-a", "0-b", "1-a", "1-b"]
        reads_reach(fs, 4)
        assert shown(reader.read("0", 2, src.plan("0", 2, None))) == ["2-a", "2-b", "3-a", "3-b"]
        assert sorted(fs.reads).count("2.txt") == 2  # ahead (failed), then by its batch
    finally:
        reader.close()


def test_the_reader_pickles_without_its_pool(tmp_path: Path) -> None:
    fs = Remote()
    src, reader = setup(tmp_path, fs)
    try:
        list(reader.read("0", 0, src.plan("0", 0, None)))
        assert reader._ahead is not None
        shipped = pickle.loads(pickle.dumps(reader))
        assert shipped._ahead is None
        assert shown(shipped.read("0", 0, 2)) == ["0-a", "0-b", "1-a", "1-b"]
        shipped.close()
    finally:
        reader.close()


def test_lines_are_split_on_the_fetching_threads_not_the_tasks(
        tmp_path: Path, monkeypatch: Any) -> None:
    """The task's thread only takes each file's lines: the next files are split where they
    were fetched while it works on the current one."""
    import etlcore.connectors.textfiles as textfiles

    load, where = textfiles._load, []

    def spy(*args: Any, **kwargs: Any) -> Any:
        where.append(threading.current_thread() is threading.main_thread())
        return load(*args, **kwargs)

    monkeypatch.setattr(textfiles, "_load", spy)
    fs = Remote()
    src, reader = setup(tmp_path, fs)
    try:
        assert shown(reader.read("0", 0, src.plan("0", 0, None))) == ["0-a", "0-b", "1-a", "1-b"]
        assert len(where) >= 2 and not any(where), where  # the batch's two, and any ahead
    finally:
        reader.close()


def test_a_file_fetched_ahead_as_lines_is_fetched_again_for_a_blocks_read(
        tmp_path: Path) -> None:
    """What is kept ahead is keyed by what the fetch gives (lines split, or bytes): a read
    of the other kind never gets it, and reads the file itself."""
    fs = Remote()
    src, reader = setup(tmp_path, fs)
    try:
        assert shown(reader.read("0", 0, src.plan("0", 0, None))) == ["0-a", "0-b", "1-a", "1-b"]
        reads_reach(fs, 4)  # 2.txt and 3.txt kept ahead, as lines
        blocks = list(reader.read_blocks("0", 2, src.plan("0", 2, None)))
        assert [b.lines() for b in blocks] == [["2-a", "2-b"], ["3-a", "3-b"]]
        assert sorted(fs.reads).count("2.txt") == 2
    finally:
        reader.close()
