"""Encoding records for storage, and what happens to those that cannot be encoded.

A sink that meets a record it cannot store must not stop the job: a job that
fails on a record fails on it again on every restart, for good. The sinks
encode each record on the worker and hand what they cannot store back as
dead letters (``WriteResult.rejected``) before any sink commits, so all sinks
of a batch still commit together. This module holds the rules they share.

Policies (sink settings):

- ``non_finite``: NaN and +-Infinity have no JSON form (``NaN`` in a JSON file
  is invalid JSON that most readers refuse). ``dead_letter`` (the default)
  refuses the record; ``null`` writes null; ``string`` writes ``"NaN"``,
  ``"Infinity"``, ``"-Infinity"``.
- Text must be encodable as UTF-8: a lone surrogate (``"\\ud800"``, which JSON
  escapes and Python strings allow) has no UTF-8 form, so such a record is a
  dead letter.
- Nesting deeper than the interpreter's recursion limit is a dead letter.

Dead letters themselves must always be storable, whatever the record was:
:func:`storable_letter` keeps a letter's record when it is plain JSON and
otherwise replaces it with its ``ascii()`` repr (``record_repr: true``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

NonFinite = Literal["dead_letter", "null", "string"]
_NAMES = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class Unstorable(ValueError):  # noqa: N818 - reads as what the record is
    """A record a sink cannot encode; ``reason`` says why (it becomes the dead letter's)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def printable(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) backslash-escaped."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def check_utf8(text: str, what: str = "text") -> str:
    """``text`` if it has a UTF-8 form; Unstorable naming the first bad character otherwise."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            char = text[err.start]
            raise Unstorable(f"{what} holds U+{ord(char):04X} (a lone surrogate), which has "
                             "no UTF-8 form") from None
    return text


def _replace_non_finite(value: Any, policy: NonFinite) -> Any:
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return None if policy == "null" else _NAMES[repr(value)]
    if isinstance(value, dict):
        return {k: _replace_non_finite(v, policy) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_non_finite(v, policy) for v in value]
    return value


def json_text(record: Any, non_finite: NonFinite = "dead_letter") -> str:
    """One record as JSON text (tuples as arrays, other objects as ``str``), or Unstorable.

    The text may hold any Unicode character that UTF-8 can encode: the caller
    encodes whole batches at once and only checks single records when that fails.
    """
    try:
        try:
            return json.dumps(record, default=str, ensure_ascii=False, allow_nan=False)
        except ValueError as err:
            if "Out of range float" not in str(err):
                raise
            if non_finite == "dead_letter":
                raise Unstorable("NaN or Infinity has no JSON form (the sink's non_finite "
                                 "setting is dead_letter)") from None
            return json.dumps(_replace_non_finite(record, non_finite), default=str,
                              ensure_ascii=False, allow_nan=False)
    except Unstorable:
        raise
    except RecursionError:
        raise Unstorable("nested too deeply to encode as JSON") from None
    except Exception as err:  # noqa: BLE001 - default=str and keys run arbitrary code
        raise Unstorable(f"cannot encode as JSON: {type(err).__name__}: {err}") from None


def is_plain_json(value: Any) -> bool:
    """True when ``value`` survives strict JSON as UTF-8 (what a dead-letter file needs)."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return False
    except Exception:  # noqa: BLE001 - a key or value whose own methods fail
        return False
    return True


def safe_repr(value: Any) -> str:
    """``ascii(value)``, or a placeholder naming its type when even that fails."""
    try:
        return ascii(value)
    except RecursionError:
        return f"<{type(value).__qualname__} nested too deeply to show>"
    except Exception as err:  # noqa: BLE001 - a broken __repr__
        return f"<{type(value).__qualname__} whose repr failed: {type(err).__name__}>"


def storable_letter(letter: dict[str, Any]) -> dict[str, Any]:
    """A dead letter that any sink can store: text printable, the record plain JSON or a repr."""
    out = {k: printable(v) if isinstance(v, str) and k != "record" else v
           for k, v in letter.items()}
    if "record" in out:  # a compact window row is stored as the tuple it stands for
        from etlcore.records import as_tuple_row

        out["record"] = as_tuple_row(out["record"])
    if not is_plain_json(out.get("record")):
        out["record"] = safe_repr(out.get("record"))
        out["record_repr"] = True
    return out
