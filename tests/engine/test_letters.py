"""A batch's dead letters kept packed as a worker marshalled them, unpacked only when read."""

from __future__ import annotations

import pickle

from etlcore.graph.base import DeadLetter
from etlcore.letters import HEAD, Letters, PackedLetters
from etlcore.metrics import SAMPLE_LETTERS, letter_summary
from etlcore.runners.wire import marshal_plain


def _letters(n: int, start: int = 0) -> list[DeadLetter]:
    return [DeadLetter({"line": i, "raw": b"x" * (i % 3)}, "bad amount" if i % 3 else "not json",
                       "parse_json", None if i % 4 else f"in/a.jsonl line {i}")
            for i in range(start, start + n)]


def _pack(letters: list[DeadLetter]) -> PackedLetters:
    packed = PackedLetters.pack(letters, marshal_plain)
    assert packed is not None
    return pickle.loads(pickle.dumps(packed))  # as it crosses the pipe


def test_a_pack_gives_back_the_same_letters_in_order():
    letters = _letters(50)
    packed = _pack(letters)
    assert len(packed) == 50
    assert packed.letters() == letters


def test_many_distinct_reasons_and_reasons_that_are_not_text_round_trip():
    many = [DeadLetter(i, f"reason {i % 300}", f"stage {i % 2}") for i in range(700)]
    odd = [DeadLetter("r", 1, "s"), DeadLetter("r", 1.0, "s"), DeadLetter("r", True, "s")]
    for letters in (many, odd):
        unpacked = _pack(letters).letters()
        assert unpacked == letters
        assert [type(d.reason) for d in unpacked] == [type(d.reason) for d in letters]


def test_count_reasons_and_head_are_read_without_unpacking():
    first, second = _pack(_letters(3)), _pack(_letters(40, start=3))
    batch = Letters([DeadLetter("loose", "a list from the local runner", "map")])
    batch.extend(first)
    batch.extend(second)
    assert len(batch) == 44
    everything = [DeadLetter("loose", "a list from the local runner", "map"), *_letters(43)]
    assert batch.reasons() == {"a list from the local runner": 1, "not json": 15,
                               "bad amount": 28}
    assert batch.head(SAMPLE_LETTERS) == everything[:SAMPLE_LETTERS]
    assert first._letters is None and second._letters is None  # nothing unpacked yet
    assert HEAD >= SAMPLE_LETTERS


def test_the_metrics_summary_is_the_same_packed_or_not():
    letters = _letters(30) + _letters(25, start=30)
    packed = Letters(_pack(letters[:30]))
    packed.extend(_pack(letters[30:]))
    assert letter_summary(packed) == letter_summary(letters)


def test_reading_an_item_unpacks_every_part_in_task_order():
    batch = Letters()
    batch.extend(_pack(_letters(7)))
    batch.extend([])  # a task with no letters adds no part
    batch.extend(_letters(2, start=7))
    batch.extend(_pack(_letters(5, start=9)))
    assert batch == _letters(14)
    assert list(batch) == _letters(14) and batch[13] == _letters(14)[13]
    assert batch[2:4] == _letters(14)[2:4]
    assert batch != _letters(13)


def test_letters_marshal_refuses_are_not_packed():
    class Tag(str):
        pass

    assert PackedLetters.pack([DeadLetter(Tag("x"), "r", "s")], marshal_plain) is None
    assert PackedLetters.pack([DeadLetter(bytearray(b"x"), "r", "s")], marshal_plain) is None
