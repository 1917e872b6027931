"""Reference batch loop of :meth:`etlcore.jsondecode.JsonDecoder.decode_many`.

The executable specification of ``jsondecode_c``; the two are tested against
each other. The happy path is one ``list.extend(map(post, map(decode, ...)))``
(C, no Python frame per record); a failing text stops the ``map``, is noted,
and the loop resumes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["decode_texts", "slot_offsets"]


def slot_offsets(cls: type, names: tuple[str, ...]) -> tuple[int, ...] | None:
    """The reference reads no slots: it always projects with ``post``."""
    return None


def decode_texts(decode: Callable[[Any], Any], post: Callable[[Any], Any] | None, cls: Any,
                 offsets: tuple[int, ...] | None, keys: tuple[str, ...] | None,
                 texts: list[Any], slow: Callable[[Any, BaseException], Any],
                 errors: tuple[type[BaseException], ...],
                 ) -> tuple[list[Any], list[int], list[Any], list[Any]]:
    """``(records, at, kinds, values)``, as ``jsondecode_c.decode_texts``.

    ``offsets`` and ``keys`` are ignored (``post`` projects); a failure's value
    is the exception itself, its kind the exception's class (None for a reason
    ``slow`` worded).
    """
    out: list[Any] = []
    extend, append = out.extend, out.append
    at: list[int] = []
    kinds: list[Any] = []
    values: list[Any] = []
    it = iter(texts)
    while True:
        try:
            extend(map(decode, it) if post is None else map(post, map(decode, it)))
            break
        except errors as err:
            i = len(out) + len(at)
            raw = texts[i]
            if type(raw) is str or type(raw) is bytes:  # text that does not fit: the usual
                at.append(i)
                kinds.append(type(err))
                values.append(err.with_traceback(None))  # no frame cycle: freed at once
                continue
            try:
                value = slow(raw, err)
            except Exception as why:  # JsonDecodeError: worded already
                reason = getattr(why, "reason", None)
                if reason is None:
                    raise
                at.append(i)
                kinds.append(None)
                values.append(reason)
                continue
            append(value if post is None else post(value))
    return out, at, kinds, values
