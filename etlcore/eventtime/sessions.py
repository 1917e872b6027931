"""Session windows: per-key activity separated by gaps of at least ``gap``.

A session spans ``[first event, last event + gap)``. Events closer than the
gap (inclusive, as Spark and Flink) join one session, and an event that
bridges two sessions merges them. The sessions of a key partition live in the
session kernel (``_fast.session.SessionStore``): per key the open sessions
(start, last, count and the hash aggregation kernel's partial), events folded
in arrival order with no Python call per event, and an expiry heap so that
finishing sessions costs O(finished), not O(open keys). A session is final
when ``last + gap <= watermark``; it is then emitted (``emit="final"``) and
forgotten, so a later event starts a new one.
"""

from __future__ import annotations

from typing import Any

from etlcore import _fast
from etlcore._fast._common import STATE_VERSION, is_field
from etlcore.eventtime.base import EventTimeNode, SessionResult, WindowSpec, to_us
from etlcore.graph.base import Node


class SessionWindowNode(EventTimeNode):
    """Sessions per key, kept in one ``SessionStore`` state per key partition."""

    op = "session_window"

    def __init__(self, parent: Node, key: str, spec: WindowSpec, num_partitions: int,
                 gap_us: int):
        super().__init__(parent, key, spec, num_partitions)
        self.gap_us = gap_us

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "gap_us": self.gap_us}

    def new_state(self) -> Any:
        return _fast.session.SessionStore(self.gap_us, self.spec.agg)

    def encode_state(self, state: Any) -> Any:
        return state.to_state()

    def decode_state(self, data: Any) -> Any:
        if isinstance(data, list) and (not data or isinstance(data[0], (list, tuple))):
            # written before the kernel: [[key, [[start, last, n, partial], ...]], ...]
            data = (STATE_VERSION, [(key, [tuple(s) for s in sessions]) for key, sessions in data])
        return _fast.session.SessionStore.from_state(self.gap_us, self.spec.agg, data)

    def state_len(self, state: Any) -> int:
        return len(state)

    def is_late(self, t_us: int, wm_us: int) -> bool:
        return t_us + self.gap_us <= wm_us

    def late_before(self, wm_us: int) -> int:
        return wm_us - self.gap_us + 1  # t + gap <= wm <=> t < wm - gap + 1

    # -- field references: the kernel reads, checks and folds the records itself ---------
    def direct(self) -> bool:
        spec = self.spec
        return is_field(spec.extract) and all(f is None or is_field(f)
                                              for f in (spec.key, spec.value))

    def fold_direct(self, state: Any, records: list[Any], cutoff: int | None, param: Any
                    ) -> tuple[list[Any], Any, Any]:
        spec = self.spec
        return state.process_records(records, spec.extract, spec.key, spec.value, cutoff,
                                     param["wm"], spec.emit == "update", SessionResult, to_us)

    def process(self, state: Any, keys: list[Any], times: list[int], values: list[Any],
                wm_us: int | None, emitted_us: int | None) -> list[Any]:
        # SessionResults in window order (start, last), as by_window would sort them
        return state.process(keys, times, values, wm_us, self.spec.emit == "update",
                             SessionResult)
