"""A batch's dead letters, kept packed as workers sent them until something reads them.

A worker process returns its task's letters as one marshal blob of four columns
(:mod:`etlcore.runners.wire`). W3 sends ~2,250 a task; rebuilding them as
:class:`DeadLetter` objects on the driver, and counting them by reason for the
metrics, was about 0.65 ms of driver CPU a task, on the two cores the workers
also need. Most runs never look at the letters one by one: the metrics want
their count, their count per reason and the first few as samples; the default
dead-letter sink without a checkpoint only keeps them for ``ctx.dead_letters``.
So a task's letters stay one :class:`PackedLetters` (the blob, the count and the
reasons counted by the worker, the first few letters) and a batch's are one
:class:`Letters` sequence, unpacked, in order, the first time an item is read.
"""

from __future__ import annotations

import marshal
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from operator import attrgetter
from typing import Any, overload

from etlcore.graph.base import DeadLetter

HEAD = 5  # letters a pack keeps unpacked: the metrics' samples (metrics.SAMPLE_LETTERS)
_REASON = attrgetter("reason")


class PackedLetters:
    """One task's dead letters as marshalled columns, with what the metrics need beside them.

    ``reasons`` is counted by the worker from the reason column it marshals;
    ``head`` holds the first :data:`HEAD` letters as objects. Picklable: the
    blob crosses the pipe once, inside the task's pickled result.
    """

    __slots__ = ("blob", "count", "reasons", "head", "_letters")

    def __init__(self, blob: bytes, count: int, reasons: dict[str, int],
                 head: list[DeadLetter]):
        self.blob = blob
        self.count = count
        self.reasons = reasons
        self.head = head
        self._letters: list[DeadLetter] | None = None

    @classmethod
    def pack(cls, letters: list[DeadLetter], blob_of: Any) -> PackedLetters | None:
        """``letters`` packed, or None when ``blob_of(columns)`` refuses them (not plain values).

        Reasons and stages repeat (W3: 11 reasons and one stage in 2,250 letters, 190 KB
        of a 430 KB blob written out in full): each goes as its distinct values and a
        code a letter.
        """
        reasons = [d.reason for d in letters]
        counts = Counter(reasons)
        blob = blob_of(([d.record for d in letters], *_coded(reasons, list(counts)),
                        *_coded([d.stage for d in letters]), [d.origin for d in letters]))
        if blob is None:
            return None
        return cls(blob, len(letters), dict(counts), letters[:HEAD])

    def __reduce__(self) -> tuple[Any, ...]:
        return PackedLetters, (self.blob, self.count, self.reasons, self.head)

    def __len__(self) -> int:
        return self.count

    def letters(self) -> list[DeadLetter]:
        """The letters as objects, in order (unpacked once)."""
        if self._letters is None:
            records, reasons, reason_codes, stages, stage_codes, origins = marshal.loads(
                self.blob)
            self._letters = list(map(DeadLetter, records, _decoded(reasons, reason_codes),
                                     _decoded(stages, stage_codes), origins))
        return self._letters


class Letters(Sequence[DeadLetter]):
    """A batch's dead letters in task order: lists and packs, unpacked when an item is read.

    ``len``, :meth:`reasons` and :meth:`head` do not unpack. Compares equal to
    a list of the same letters.
    """

    def __init__(self, letters: Iterable[DeadLetter] | PackedLetters = ()):
        self._parts: list[list[DeadLetter] | PackedLetters] = []
        self._len = 0
        self._flat: list[DeadLetter] | None = None
        self.extend(letters)

    def extend(self, letters: Iterable[DeadLetter] | PackedLetters) -> None:
        """Add a task's letters (a list, a pack, or another batch's) after these."""
        if isinstance(letters, Letters):
            parts: list[list[DeadLetter] | PackedLetters] = list(letters._parts)
        elif isinstance(letters, PackedLetters):
            parts = [letters]
        else:
            parts = [letters if type(letters) is list else list(letters)]
        for part in parts:
            if len(part):
                self._parts.append(part)
                self._len += len(part)
                self._flat = None

    def append(self, letter: DeadLetter) -> None:
        self.extend([letter])

    def __len__(self) -> int:
        return self._len

    def _list(self) -> list[DeadLetter]:
        if self._flat is None:
            if len(self._parts) == 1 and type(self._parts[0]) is list:
                self._flat = self._parts[0]
            else:
                self._flat = list(chain.from_iterable(map(_objects, self._parts)))
        return self._flat

    @overload
    def __getitem__(self, i: int) -> DeadLetter: ...
    @overload
    def __getitem__(self, i: slice) -> list[DeadLetter]: ...
    def __getitem__(self, i: int | slice) -> DeadLetter | list[DeadLetter]:
        return self._list()[i]

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Letters | list):
            return len(self) == len(other) and self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Letters({self._list()!r})"

    def reasons(self) -> dict[str, int]:
        """Letters per reason, first seen first (packs counted by their workers)."""
        out: dict[str, int] = {}
        for part in self._parts:
            counts = part.reasons if isinstance(part, PackedLetters) else Counter(
                map(_REASON, part))
            for reason, n in counts.items():
                out[reason] = out.get(reason, 0) + n
        return out

    def head(self, n: int) -> list[DeadLetter]:
        """The first ``n`` letters, unpacking a pack only when its head is too short."""
        out: list[DeadLetter] = []
        for part in self._parts:
            if len(out) >= n:
                break
            if isinstance(part, PackedLetters):
                want = n - len(out)
                out += part.head[:want] if len(part.head) >= min(want, part.count) \
                    else part.letters()[:want]
            else:
                out += islice(part, n - len(out))
        return out


def _objects(part: list[DeadLetter] | PackedLetters) -> list[DeadLetter]:
    return part.letters() if isinstance(part, PackedLetters) else part


def _coded(column: list[Any], distinct: list[Any] | None = None) -> tuple[list[Any], Any]:
    """``column`` as its distinct values (first seen first) and a code per item: one byte
    each while there are at most 256 distinct values, else a list of ints. Only for str
    values (``1`` and ``1.0`` are one dict key): others go as they are, with no codes."""
    if distinct is None:
        distinct = list(dict.fromkeys(column))
    if any(type(value) is not str for value in distinct):
        return column, None
    index = {value: i for i, value in enumerate(distinct)}
    codes = list(map(index.__getitem__, column))
    return distinct, bytes(codes) if len(distinct) <= 256 else codes


def _decoded(distinct: list[Any], codes: bytes | list[int] | None) -> list[Any]:
    return distinct if codes is None else list(map(distinct.__getitem__, codes))
