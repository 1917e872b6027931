"""Reference batch loop of :meth:`etlcore.jsondecode.JsonDecoder.decode_many`.

The executable specification of ``jsondecode_c``; the two are tested against
each other. The happy path is one ``list.extend(map(post, map(decode, ...)))``
(C, no Python frame per record); a failing text stops the ``map``, is noted,
and the loop resumes after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["decode_lines", "decode_texts", "slot_offsets", "unsure_texts"]


def slot_offsets(cls: type, names: tuple[str, ...]) -> tuple[int, ...] | None:
    """The reference reads no slots: it always projects with ``post``."""
    return None


def decode_texts(decode: Callable[[Any], Any], post: Callable[[Any], Any] | None, cls: Any,
                 offsets: tuple[int, ...] | None, keys: tuple[str, ...] | None,
                 texts: list[Any], slow: Callable[[Any, BaseException], Any],
                 errors: tuple[type[BaseException], ...], fits: type | None = None,
                 prefix: str = "",
                 ) -> tuple[list[Any], list[int], list[Any], list[tuple[int, type]]]:
    """``(records, at, reasons, rest)``, as ``jsondecode_c.decode_texts``.

    ``offsets`` and ``keys`` are ignored (``post`` projects); a failure whose
    error is exactly ``fits`` gets ``prefix`` + its message as the reason (one
    str per distinct message), any other keeps the exception itself, to be
    worded by the caller (``rest``: its position and the exception's class).
    """
    out: list[Any] = []
    extend, append = out.extend, out.append
    at: list[int] = []
    reasons: list[Any] = []
    rest: list[tuple[int, type]] = []
    worded: dict[str, str] = {}
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
                if type(err) is fits:
                    message = str(err)
                    reason = worded.get(message)
                    if reason is None:
                        reason = worded[message] = prefix + message
                    reasons.append(reason)
                    continue
                rest.append((len(reasons), type(err)))
                reasons.append(err.with_traceback(None))  # no frame cycle: freed at once
                continue
            try:
                value = slow(raw, err)
            except Exception as why:  # JsonDecodeError: worded already
                reason = getattr(why, "reason", None)
                if reason is None:
                    raise
                at.append(i)
                reasons.append(reason)
                continue
            append(value if post is None else post(value))
    return out, at, reasons, rest


def decode_lines(decode: Callable[[Any], Any], post: Callable[[Any], Any] | None, cls: Any,
                 offsets: tuple[int, ...] | None, keys: tuple[str, ...] | None, data: bytes,
                 start: int, stop: int, errors: tuple[type[BaseException], ...],
                 fits: type | None = None, prefix: str = "",
                 ) -> tuple[list[Any], list[int], list[Any], list[tuple[int, type]], list[bytes]]:
    """``(records, at, reasons, rest, raws)``, as ``jsondecode_c.decode_lines``: the lines of
    ``data[start:stop]`` (``bytes.split`` at ``\\n``) through :func:`decode_texts`, and the
    refused lines themselves in ``raws``."""
    if not 0 <= start <= stop <= len(data):
        raise ValueError(f"start and stop must lie in the data: 0 <= {start} <= {stop} <= "
                         f"{len(data)}")
    lines = data[start:stop].split(b"\n")
    out, at, reasons, rest = decode_texts(decode, post, cls, offsets, keys, lines,
                                          _never, errors, fits, prefix)
    return out, at, reasons, rest, [lines[i] for i in at]


def _never(raw: Any, err: BaseException) -> Any:
    """Lines are bytes: ``decode_texts`` asks its ``slow`` path only for other values."""
    raise AssertionError(f"decode_lines: a line that is not bytes ({type(raw).__name__})")


_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG = b"0" * 309  # the shortest integer part that can exceed a double's range


def unsure_texts(texts: list[Any]) -> list[int]:
    """Indexes of the texts a pruned decode may accept where the whole one refuses: not
    ``bytes``, a byte outside ASCII (invalid UTF-8 in a skipped string), a digit followed
    by ``e``/``E`` or a run of 309 digits (a number beyond a double's range)."""
    out = []
    for i, text in enumerate(texts):
        if type(text) is not bytes or not text.isascii():
            out.append(i)
            continue
        digits = text.translate(_ZEROS)
        if b"0e" in digits or b"0E" in digits or _LONG in digits:
            out.append(i)
    return out
