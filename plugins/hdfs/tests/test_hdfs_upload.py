"""Files sent to HDFS while their writer produces the rest (``StreamUpload``), on the cluster."""

from __future__ import annotations

import os
from typing import Any

import pytest
from etlcore_hdfs.config import HdfsOptions
from etlcore_hdfs.fs import HdfsFileSystem

pytestmark = pytest.mark.services


@pytest.fixture
def fs(hdfs_settings: dict[str, Any]) -> HdfsFileSystem:
    return HdfsFileSystem(HdfsOptions(**hdfs_settings))


@pytest.mark.parametrize("sizes", [[], [10], [1_000_000] * 9 + [3], [3_000_001, 5, 1 << 20]])
def test_chunks_make_the_file_they_were_written_as(sizes: list[int], fs: HdfsFileSystem,
                                                   hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    path = hdfs_url(f"{hdfs_dir_factory()}/file")
    chunks = [os.urandom(n) for n in sizes]
    upload = fs.upload(path)
    for chunk in chunks:
        upload.write(chunk)
    upload.close()
    assert fs.read(path) == b"".join(chunks)


def test_abort_keeps_nothing(fs: HdfsFileSystem, hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    path = hdfs_url(f"{hdfs_dir_factory()}/file")
    upload = fs.upload(path)
    upload.write(os.urandom(2_000_000))
    upload.abort()
    assert not fs.exists(path)


def test_a_failed_stream_is_written_again_whole(fs: HdfsFileSystem, hdfs_dir_factory: Any,
                                                hdfs_url: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream breaks after its first chunk (a DataNode gone, as in an outage): ``close``
    sends the kept chunks again through the retried write."""
    path = hdfs_url(f"{hdfs_dir_factory()}/file")
    upload = fs.upload(path)
    body = upload._body  # type: ignore[attr-defined]

    def breaks_after_one() -> Any:
        chunks = body()
        yield next(chunks)
        raise ConnectionResetError("the DataNode went away")

    monkeypatch.setattr(upload, "_body", breaks_after_one)
    chunks = [os.urandom(500_000) for _ in range(4)]
    for chunk in chunks:
        upload.write(chunk)
    upload.close()
    assert upload.failure is not None  # type: ignore[attr-defined]
    assert fs.read(path) == b"".join(chunks)


def test_an_expected_upload_asks_the_namenode_before_its_first_chunk(
        fs: HdfsFileSystem, hdfs_dir_factory: Any, hdfs_url: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``expect`` gets the CREATE's redirect while the writer has no bytes yet, and
    creates nothing until they come; the body then goes where the NameNode said."""
    import threading

    from etlcore_hdfs.config import split_url

    path = hdfs_url(f"{hdfs_dir_factory()}/file")
    client = fs.client(split_url(path)[0])
    asked = threading.Event()
    create = client._create

    def recorded(hdfs_path: str, **params: Any) -> Any:
        answer = create(hdfs_path, **params)
        asked.set()
        return answer

    monkeypatch.setattr(client, "_create", recorded)
    upload = fs.upload(path)
    assert upload.expect(3_000_000)
    assert asked.wait(30), "no CREATE redirect asked before the first chunk"
    assert not fs.exists(path)  # a redirect only: no file yet
    chunks = [os.urandom(1_500_000), os.urandom(1_500_000)]
    for chunk in chunks:
        upload.write(chunk)
    upload.close()
    assert fs.read(path) == b"".join(chunks)


@pytest.mark.parametrize("ending", ["abort", "close"])
def test_an_expected_upload_without_bytes(ending: str, fs: HdfsFileSystem,
                                          hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    """Aborted: nothing was created (the files sink's partition that got no records);
    closed: an empty file, as an upload that expected nothing would leave."""
    path = hdfs_url(f"{hdfs_dir_factory()}/file")
    upload = fs.upload(path)
    upload.expect(1000)
    getattr(upload, ending)()
    if ending == "abort":
        assert not fs.exists(path)
    else:
        assert fs.read(path) == b""


def test_rename_present_says_whether_the_source_was_there(
        fs: HdfsFileSystem, hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    """One RENAME for the commit: True and moved, or False (nothing raised) when the
    source is gone, as a replay's commit finds a temp file already renamed."""
    root = hdfs_dir_factory()
    src, dst = hdfs_url(f"{root}/.a.tmp"), hdfs_url(f"{root}/a")
    fs.write(dst, b"old")
    fs.write(src, b"new")
    assert fs.rename_present(src, dst)
    assert fs.read(dst) == b"new" and not fs.exists(src)
    assert not fs.rename_present(src, dst)
    assert fs.read(dst) == b"new"
    assert not fs.rename_present(hdfs_url(f"{root}/nowhere/.b.tmp"), hdfs_url(f"{root}/nowhere/b"))


@pytest.mark.parametrize("vanished", [False, True])
def test_an_empty_file_prepared_ahead_is_renamed_into_place(
        vanished: bool, fs: HdfsFileSystem, hdfs_dir_factory: Any, hdfs_url: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare_empty`` makes the file under a hidden name; the write that follows is
    one RENAME (no CREATE on its path). If the temp is gone by then, a CREATE as usual."""
    root = hdfs_dir_factory()
    path, tmp = hdfs_url(f"{root}/_SUCCESS"), hdfs_url(f"{root}/._SUCCESS.tmp")
    fs.write(path, b"a replay overwrites this")
    fs.prepare_empty(path)
    fs._prepared[path][1].result(30)  # type: ignore[attr-defined]
    assert fs.read(tmp) == b""
    if vanished:
        fs.remove(tmp)
    calls: list[str] = []
    call = fs.call
    monkeypatch.setattr(fs, "call", lambda what, p, fn: calls.append(what) or call(what, p, fn))
    fs.write(path, b"")
    assert calls == (["RENAME", "CREATE"] if vanished else ["RENAME"])
    assert fs.read(path) == b"" and not fs.exists(tmp)


@pytest.mark.parametrize("streamed", [True, False])
def test_a_create_makes_the_missing_parents(streamed: bool, fs: HdfsFileSystem,
                                            hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    """What ``creates_parents`` promises writers, who skip their MKDIRS on HDFS."""
    assert fs.creates_parents
    path = hdfs_url(f"{hdfs_dir_factory()}/batch-000000000007/deeper/.part-00000.txt.tmp")
    data = os.urandom(300_000)
    if streamed:
        upload = fs.upload(path)
        upload.write(data)
        upload.close()
    else:
        fs.write(path, data)
    assert fs.read(path) == data


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_the_files_sink_writes_a_new_batch_without_mkdirs(
        fmt: str, fs: HdfsFileSystem, hdfs_dir_factory: Any, hdfs_url: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's directory comes with its part's CREATE (streamed, or whole for CSV):
    no MKDIRS before the first byte, and the commit publishes the part."""
    from etlcore.batch import BatchInfo
    from etlcore.connectors.files import FilesSink, FilesSinkConfig

    sink = FilesSink(FilesSinkConfig(path=hdfs_url(hdfs_dir_factory()), format=fmt), fs=fs)
    monkeypatch.setattr(fs, "mkdirs", lambda path: pytest.fail(f"MKDIRS {path}"))
    batch = BatchInfo(3, 1.0)
    writer = sink.writer()
    part = writer.open_part(batch, 0)
    if part is not None:
        part.write(["a", "b"])
        message = part.close()
    else:
        message = writer.write(batch, 0, ["a", "b"])
    sink.commit(batch, [message])
    final = sink.final_path(batch, 0)
    assert fs.read(final) == b"a\nb\n"  # one column of CSV: the same lines
    batch_dir = str(final).rsplit("/", 1)[0]
    assert fs.exists(fs.join(batch_dir, "_SUCCESS"))
    assert fs.listdir(batch_dir) == ["_SUCCESS", "part-00000." + sink.ext]  # no temp left


def driver_sink(fs: HdfsFileSystem, root: str) -> tuple[Any, Any]:
    """A files sink on ``root`` and its writer as the local runner opens it (on the driver)."""
    from etlcore.connectors.files import FilesSink, FilesSinkConfig
    from etlcore.sink import WriterContext

    sink = FilesSink(FilesSinkConfig(path=root, format="text"), fs=fs)
    writer = sink.writer()
    writer.open(WriterContext("out", "job", None, "driver"))
    return sink, writer


def test_a_writer_on_the_driver_hands_off_the_close(fs: HdfsFileSystem, hdfs_dir_factory: Any,
                                                    hdfs_url: Any) -> None:
    """The local runner's task ends once the body is sent, without the CREATE's answer;
    the commit waits for it, then renames: the part holds every line once."""
    from etlcore_hdfs.upload import Closing

    from etlcore.batch import BatchInfo

    sink, writer = driver_sink(fs, hdfs_url(hdfs_dir_factory()))
    batch = BatchInfo(0, 1.0)
    part = writer.open_part(batch, 0)
    lines = [f"{i:07d}" + "x" * 200 for i in range(20_000)]
    part.write(lines)
    message = part.close()
    assert isinstance(message[2], Closing)  # its answer may still be on the way
    sink.commit(batch, [message])
    final = sink.final_path(batch, 0)
    assert fs.read(final) == ("\n".join(lines) + "\n").encode()
    assert not fs.exists(message[1])  # renamed


def test_an_aborted_hand_off_leaves_no_file(fs: HdfsFileSystem, hdfs_dir_factory: Any,
                                            hdfs_url: Any) -> None:
    from etlcore.batch import BatchInfo

    root = hdfs_dir_factory()
    sink, writer = driver_sink(fs, hdfs_url(root))
    batch = BatchInfo(0, 1.0)
    part = writer.open_part(batch, 0)
    part.write(["a" * 1000] * 1000)
    message = part.close()
    sink.abort(batch, [message])
    assert not fs.exists(message[1])
    assert not fs.exists(sink.final_path(batch, 0))


def test_a_handed_off_close_crosses_processes_closed(fs: HdfsFileSystem, hdfs_dir_factory: Any,
                                                     hdfs_url: Any) -> None:
    """Pickled after all, a handed-off close waits for its answer and travels as None; the
    commit renames the file as it would a worker's."""
    import pickle

    from etlcore.batch import BatchInfo

    sink, writer = driver_sink(fs, hdfs_url(hdfs_dir_factory()))
    batch = BatchInfo(0, 1.0)
    part = writer.open_part(batch, 0)
    part.write(["a" * 1000] * 1000)
    message = pickle.loads(pickle.dumps(part.close()))
    assert message[2] is None
    sink.commit(batch, [message])
    assert fs.read(sink.final_path(batch, 0)) == ("a" * 1000 + "\n").encode() * 1000


def test_a_partition_that_had_bytes_starts_early_and_may_get_none(
        fs: HdfsFileSystem, hdfs_dir_factory: Any, hdfs_url: Any) -> None:
    """A partition whose last file had bytes starts its next upload as the part opens
    (the CREATE's redirect asked while the task reads); if no records come, no file and
    no batch directory are left, and a part that gets records is published whole."""
    from etlcore.batch import BatchInfo

    sink, writer = driver_sink(fs, hdfs_url(hdfs_dir_factory()))
    first = BatchInfo(0, 1.0)
    part = writer.open_part(first, 0)
    assert part.upload is None  # nothing known of this partition yet
    part.write(["a" * 100] * 100)
    sink.commit(first, [part.close()])
    empty = BatchInfo(1, 2.0)
    part = writer.open_part(empty, 0)
    assert part.upload is not None  # under way before any record
    assert part.close() is None
    batch_dir = str(sink.final_path(empty, 0)).rsplit("/", 1)[0]
    assert not fs.exists(batch_dir)
    full = BatchInfo(2, 3.0)
    part = writer.open_part(full, 0)
    assert part.upload is None  # the partition's last file was empty: nothing expected
    part.write(["b" * 100] * 100)
    sink.commit(full, [part.close()])
    again = BatchInfo(3, 4.0)
    part = writer.open_part(again, 0)
    assert part.upload is not None
    part.write(["c" * 100] * 100)
    sink.commit(again, [part.close()])
    assert fs.read(sink.final_path(again, 0)) == ("c" * 100 + "\n").encode() * 100
