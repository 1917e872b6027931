"""The default dead-letter sink: recent letters in memory, one file per batch on disk."""

from __future__ import annotations

import json

import pytest

from etlcore import BatchInfo
from etlcore.deadletter import DeadLetterSink
from etlcore.sink import SinkContext

from .protocol import PICKLERS, open_writer, roundtrip, write, write_and_commit

LETTERS = [{"record": "x", "reason": "ValueError: x", "stage": "map", "batch_id": 1},
           {"record": [1], "reason": "TypeError", "stage": "source", "batch_id": 1}]


def test_letters_show_and_land_on_disk_only_at_commit(tmp_path):
    sink = DeadLetterSink(keep=3)
    sink.open(SinkContext("dead-letter", "job", tmp_path))
    messages = write(sink, BatchInfo(1, 1.0), [LETTERS])
    assert list(sink.recent) == [] and not (tmp_path / "dead-letter").exists()
    sink.commit(BatchInfo(1, 1.0), messages)
    path = tmp_path / "dead-letter" / "batch-000000000001-00000.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == LETTERS
    assert list(sink.recent) == LETTERS
    write_and_commit(sink, BatchInfo(1, 1.0, replay=True), [LETTERS[:1]])  # a replay rewrites
    assert [json.loads(line) for line in path.read_text().splitlines()] == LETTERS[:1]
    assert list(sink.recent) == [*LETTERS, LETTERS[0]][-3:]  # keeps the last ``keep``


def test_without_a_checkpoint_letters_stay_in_memory():
    sink = DeadLetterSink()
    sink.open(SinkContext("dead-letter", "job"))
    write_and_commit(sink, BatchInfo(0, 0.0), [LETTERS[:1], LETTERS[1:]])
    write_and_commit(sink, BatchInfo(1, 0.0), [[]])
    assert list(sink.recent) == LETTERS


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_writer_crosses_processes(tmp_path, how):
    sink = DeadLetterSink()
    sink.open(SinkContext("dead-letter", "job", tmp_path))
    here, there = open_writer(sink), open_writer(sink, how=how)
    shipped = there.write(BatchInfo(0, 0.0), 0, LETTERS)
    assert shipped == here.write(BatchInfo(0, 0.0), 0, LETTERS)
    sink.commit(BatchInfo(0, 0.0), [shipped])
    assert list(sink.recent) == LETTERS


def test_the_engines_letter_objects_become_dicts_only_when_read_or_written(tmp_path):
    """The engine hands the default sink its DeadLetter objects (``takes_dead_letters``):
    kept as they are, shown and written as the same dicts the sink protocol carries."""
    from etlcore.graph.base import DeadLetter

    objects = [DeadLetter("x", "ValueError: x", "map"), DeadLetter([1], "TypeError", "source",
                                                                   "partition 0, offset 3")]
    as_dicts = [LETTERS[0], {**LETTERS[1], "origin": "partition 0, offset 3"}]
    assert DeadLetterSink.takes_dead_letters
    sink = DeadLetterSink(keep=3)
    sink.open(SinkContext("dead-letter", "job", tmp_path))
    write_and_commit(sink, BatchInfo(1, 1.0), [objects])
    path = tmp_path / "dead-letter" / "batch-000000000001-00000.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == as_dicts
    assert list(sink.recent) == as_dicts
    write_and_commit(sink, BatchInfo(2, 2.0), [objects])
    write_and_commit(sink, BatchInfo(3, 3.0), [LETTERS[:1]])  # dicts and objects mix
    assert list(sink.recent) == [{**as_dicts[0], "batch_id": 2}, {**as_dicts[1], "batch_id": 2},
                                 LETTERS[0]]  # the last ``keep``, in order


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_engines_letters_cross_processes_as_their_fields_and_stay_off_the_collector(how):
    """A DeadLetter is made by a C call (a bulk decoder makes thousands a batch), pickles as its
    four fields and, holding plain values only, is left to reference counting like a tuple."""
    import gc

    from etlcore.graph.base import DeadLetter

    plain = DeadLetter("x", "ValueError: x", "map")
    held = DeadLetter([1], "TypeError", "source", "partition 0, offset 3")
    assert roundtrip([plain, held], how) == [plain, held]
    assert (plain.origin, held.origin) == (None, "partition 0, offset 3")
    assert not gc.is_tracked(plain) and gc.is_tracked(held)  # a list could make a cycle


@pytest.mark.parametrize("checkpoint", [False, True], ids=["in-memory", "checkpoint"])
def test_letters_packed_by_workers_are_kept_packed_until_read(tmp_path, checkpoint):
    """Without a checkpoint a batch of letters from worker processes is kept by its count
    (``keep`` counts them unpacked); read, or written to the checkpoint, it gives the
    same dicts in the same order as the letters themselves."""
    from etlcore.graph.base import DeadLetter
    from etlcore.letters import Letters, PackedLetters
    from etlcore.runners.wire import marshal_plain

    objects = [DeadLetter({"n": i}, f"reason {i % 2}", "parse", None if i % 3 else f"line {i}")
               for i in range(9)]
    packs = [PackedLetters.pack(objects[:4], marshal_plain),
             PackedLetters.pack(objects[4:], marshal_plain)]
    batch = Letters(packs[0])
    batch.extend(packs[1])
    sink = DeadLetterSink(keep=9)
    sink.open(SinkContext("dead-letter", "job", tmp_path if checkpoint else None))
    write_and_commit(sink, BatchInfo(1, 1.0), [batch])
    assert all(p._letters is None for p in packs) != checkpoint  # a file needs every letter
    want = DeadLetter.dicts(objects, 1)
    assert list(sink.recent) == want
    if checkpoint:
        path = tmp_path / "dead-letter" / "batch-000000000001-00000.jsonl"
        assert [json.loads(line) for line in path.read_text().splitlines()] == want
    write_and_commit(sink, BatchInfo(2, 2.0), [objects[:1]])
    assert list(sink.recent) == [*want[1:], *DeadLetter.dicts(objects[:1], 2)]
