"""JSON decoded to only the fields a job reads: column pruning for untyped ``format: json``.

When every reader of a source's records is a field reference the engine can
see (``reduce_by_key_and_window("count", key="user")``), building each
object's other fields is wasted work: W5's untyped decode of 200k four-field
objects took ~50-90 ms against ~30 ms for a projection to ``user``. Spark
prunes the JSON columns a query never reads the same way.

:class:`ProjectedJson` decodes like the untyped :class:`~etlcore.jsondecode.JsonDecoder`
it wraps, with one difference a job cannot see: an object that has every
pruned field, each a scalar (string, number, bool, null), comes out as a dict
of just those fields, with the values the whole decode gives. Everything else
(a text that is not JSON, not an object, lacks a field, holds a list or object
in one) is decoded whole by the wrapped decoder, so it is refused with the
same reason or reaches the operator that dead-letters it as the whole record.

msgspec parses the fields it skips for syntax only, so two refusals of the
whole decode would pass unseen: invalid UTF-8 and a number beyond a double's
range (``1e400``). A text that could hold either (a byte outside ASCII, a digit
followed by ``e``/``E``, a run of 309 digits) is decoded whole too, as is any
text that is not ``bytes``: word-wide and ``memchr`` scans in C
(``jsondecode_c.unsure_texts``, ~0.15 ms for 10k texts of 55 bytes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Union

from etlcore._fast import COMPILED
from etlcore.jsondecode import JsonDecodeError, JsonDecoder

if COMPILED:
    from etlcore._fast import jsondecode_c as _kernel
else:
    from etlcore._fast import jsondecode_ref as _kernel  # type: ignore[no-redef]

__all__ = ["ProjectedJson"]

_SCALAR = Union[str, int, float, bool, None]  # noqa: UP007 - a runtime type for msgspec


class ProjectedJson:
    """``whole``'s decode, objects with every one of ``fields`` kept as those fields only.

    The same calls as :class:`~etlcore.jsondecode.JsonDecoder` (``decode``,
    ``decode_many``, ``decode_split``); pickles as its fields and ``whole``.
    """

    def __init__(self, fields: Iterable[str], whole: JsonDecoder | None = None):
        self.fields = tuple(sorted(set(fields)))
        self.whole = whole if whole is not None else JsonDecoder()
        if self.whole.schema is not None or not self.fields:
            raise ValueError("ProjectedJson prunes an untyped decoder to at least one field")
        self._pruned = JsonDecoder(dict.fromkeys(self.fields, _SCALAR), list(self.fields))

    def __reduce__(self) -> tuple[Any, ...]:
        return ProjectedJson, (self.fields, self.whole)

    def __repr__(self) -> str:
        return f"ProjectedJson({list(self.fields)!r})"

    def decode(self, raw: Any) -> Any:
        """One record; :class:`~etlcore.jsondecode.JsonDecodeError` as ``whole`` raises it."""
        if not _kernel.unsure_texts([raw]):
            try:
                return self._pruned.decode(raw)
            except JsonDecodeError:
                pass
        return self.whole.decode(raw)

    __call__ = decode

    def decode_many(self, raws: Iterable[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
        """:meth:`JsonDecoder.decode_many`: the records in order, ``(index, reason)`` refused."""
        out, at, reasons = self.decode_split(raws)
        return out, list(zip(at, reasons, strict=True))

    def decode_split(self, raws: Iterable[Any]) -> tuple[list[Any], list[int], list[str]]:
        """:meth:`JsonDecoder.decode_split`: one kernel call for the pruned decode, and the
        texts it refused or that ``unsure_texts`` flags decoded whole, in their places."""
        texts = raws if isinstance(raws, list) else list(raws)
        out, missed, _ = self._pruned.decode_split(texts)
        redo = sorted(set(missed).union(_kernel.unsure_texts(texts)))
        if not redo:
            return out, [], []
        whole, bad, reasons = self.whole.decode_split([texts[i] for i in redo])
        return _merge(len(texts), out, set(missed), redo, whole, bad, reasons)


def _merge(n: int, pruned: list[Any], missed: set[int], redo: list[int], whole: list[Any],
           bad: list[int], reasons: list[str]) -> tuple[list[Any], list[int], list[str]]:
    """The records of ``n`` texts in order: the pruned ones, the ``redo`` texts' whole ones
    (``bad`` of those refused, as indexes into ``redo``, with ``reasons``)."""
    again = set(redo)
    refused = {redo[j]: r for j, r in zip(bad, reasons, strict=True)}
    pruned_it, whole_it = iter(pruned), iter(whole)
    out: list[Any] = []
    at: list[int] = []
    why: list[str] = []
    for i in range(n):
        if i not in missed:
            kept = next(pruned_it)
        if i not in again:
            out.append(kept)
        elif i in refused:
            at.append(i)
            why.append(refused[i])
        else:
            out.append(next(whole_it))
    return out, at, why
