"""Reference answers, computed independently of every engine, and the checksum.

Each engine's output is first reduced to canonical rows (plain ints, floats
and strings in a fixed shape per workload), then to an order-independent
checksum. A row whose checksum differs from the reference is wrong.

Canonical shapes:

* W1 ``(word, count)``
* W2 ``(key, window_start_s, sum)`` (whole seconds) for real keys (the flush key is left out)
* W3 one row ``(count, sum_id, sum_amount, sum_user_len)`` of the projected records
* W4 ``(user, start_ms, clicks, duration_ms)`` per session (the flush user left out)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from benchmarks.data import FLUSH_KEY, SESSION_GAP_S


def checksum(rows: Iterable[tuple[Any, ...]]) -> str:
    """Row count plus a digest of the sorted rows' reprs (order-independent)."""
    lines = sorted(repr(tuple(r)) for r in rows)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    return f"{len(lines)}:{digest}"


def w2_row(key: Any, window_start: Any, total: Any) -> tuple[int, int, float]:
    return (int(key), round(float(window_start)), float(total))


def w4_row(user: Any, start_s: float, clicks: Any, duration_s: float) -> tuple[int, int, int, int]:
    return (int(user), round(start_s * 1000), int(clicks), round(duration_s * 1000))


def _w1(lines: list[str]) -> list[tuple[str, int]]:
    return list(Counter(itertools.chain.from_iterable(line.split() for line in lines)).items())


def _w2(records: list[tuple[float, int, float]], window_s: int) -> list[tuple[int, int, float]]:
    groups: dict[tuple[int, int], list[float]] = defaultdict(list)
    for ts, key, value in records:
        if key != FLUSH_KEY:
            groups[(key, math.floor(ts / window_s) * window_s)].append(value)
    return [w2_row(k, w, math.fsum(vs)) for (k, w), vs in groups.items()]


def _w3(lines: list[str]) -> list[tuple[int, int, float, int]]:
    kept = []
    for line in lines:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        amount = rec.get("amount")
        if isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount >= 0:
            kept.append((rec["id"], rec["user"], amount))
    return [w3_row(len(kept), sum(r[0] for r in kept), math.fsum(r[2] for r in kept),
                   sum(len(r[1]) for r in kept))]


def _w4(events: list[tuple[float, int]]) -> list[tuple[int, int, int, int]]:
    per_user: dict[int, list[float]] = defaultdict(list)
    for ts, user in events:
        if user != FLUSH_KEY:
            per_user[user].append(ts)
    out = []
    for user, times in per_user.items():
        times.sort()
        start = prev = times[0]
        n = 1
        for t in times[1:]:
            if t - prev > SESSION_GAP_S:
                out.append(w4_row(user, start, n, prev - start))
                start, n = t, 0
            prev = t
            n += 1
        out.append(w4_row(user, start, n, prev - start))
    return out


ANSWERS = {"W1": _w1, "W3": _w3, "W4": _w4}


def reference_checksum(workload: str, data: list[Any], window_s: int = 1) -> str:
    """The checksum every engine's answer for ``workload`` on ``data`` must match."""
    if workload == "W2":
        return checksum(_w2(data, window_s))
    return checksum(ANSWERS[workload](data))


def w3_row(count: Any, sum_id: Any, sum_amount: Any, sum_user_len: Any) -> tuple[int, int, float, int]:
    return (int(count), int(sum_id), float(sum_amount), int(sum_user_len))
