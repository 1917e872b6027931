"""Stream lines to records: tweets, keep-alives, in-band errors and dead letters.

The filtered stream sends one JSON object per line (``\\r\\n``), a blank line as
a keep-alive, and sometimes an object with only ``errors`` (an operational
disconnect notice). A line that is not a tweet object becomes a
:class:`~etlcore.source.Rejected` with the reason, so the job goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from etlcore.jsondecode import JsonDecodeError
from etlcore.jsondecode import loads as json_loads
from etlcore.source import Rejected

_SHOWN = 2048  # characters of a malformed line kept in its dead letter


@dataclass
class Notice:
    """An in-band message without tweet data (logged, not stored)."""

    text: str


def decode_line(line: bytes, origin: str) -> dict[str, Any] | Rejected | Notice | None:
    """One stream line: a tweet object, a dead letter, a notice, or None (keep-alive)."""
    line = line.strip(b"\r\n\t ")
    if not line:
        return None
    text = line.decode("utf-8", "backslashreplace")
    try:
        doc = json_loads(line)
    except JsonDecodeError as err:
        return Rejected(text[:_SHOWN], f"stream line is not JSON: {err.reason}", origin)
    if not isinstance(doc, dict):
        return Rejected(text[:_SHOWN], f"stream line is a JSON {type(doc).__name__}, not an "
                        "object", origin)
    data = doc.get("data")
    if data is None and "errors" in doc:
        return Notice(_notice(doc["errors"]))
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        return Rejected(doc, "stream object without data.id (a tweet id string)", origin)
    return doc


def _notice(errors: Any) -> str:
    items = errors if isinstance(errors, list) else [errors]
    parts = []
    for err in items:
        if isinstance(err, dict):
            parts.append(": ".join(str(err[k]) for k in ("title", "detail") if err.get(k)))
        else:
            parts.append(str(err))
    return "; ".join(p for p in parts if p) or "an errors object without detail"


def tweet_id(record: Any) -> str | None:
    """The id of a logged tweet record (None for a dead letter)."""
    if isinstance(record, dict) and isinstance(record.get("data"), dict):
        rid = record["data"].get("id")
        return rid if isinstance(rid, str) else None
    return None


class RecentIds:
    """The last ``size`` tweet ids stored: redeliveries of these are dropped.

    Rebuilt from the tail of the receiver log on open, so the set survives a
    restart exactly as far as the log does (no second file to keep in step).
    """

    def __init__(self, size: int):
        self.size = size
        self._order: deque[str] = deque()
        self._ids: set[str] = set()

    def __contains__(self, tid: str) -> bool:
        return tid in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Iterable[str]) -> None:
        if self.size == 0:
            return
        for tid in ids:
            if tid in self._ids:
                continue
            self._ids.add(tid)
            self._order.append(tid)
            if len(self._order) > self.size:
                self._ids.discard(self._order.popleft())
