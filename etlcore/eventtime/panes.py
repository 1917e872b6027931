"""Tumbling and sliding event-time windows on the PaneStore kernel.

Event time is cut into panes of ``gcd(size, slide)``; a record is folded into
exactly one pane, and a window's value is the kernel's merge of its panes. So a
sliding window of 10 min every 1 min costs one fold per record, not ten.
Windows are aligned to the epoch (``[k * slide, k * slide + size)``), as in
Spark and Flink. Tumbling windows are sliding windows with ``slide == size``.
A batch's records are folded straight from columns by the kernel
(``PaneStore.fold``); windows are produced in window order, so results need no
sort.
"""

from __future__ import annotations

from math import gcd
from typing import Any

from etlcore import _fast
from etlcore._fast._common import is_field
from etlcore.eventtime.base import EventTimeNode, WindowResult, WindowSpec, seconds, to_us
from etlcore.graph.base import Node, TaskContext
from etlcore.graph.shuffle import route
from etlcore.records import Records

_PANES = "panes"  # tags a map side's block of (pane, [(key, partial), ...]) combined


class PaneWindowNode(EventTimeNode):
    """Per-key aggregates over event-time windows of ``size`` every ``slide`` (microseconds)."""

    op = "sliding_window"

    def __init__(self, parent: Node, key: str, spec: WindowSpec, num_partitions: int,
                 size_us: int, slide_us: int, rows: str = "tuple"):
        super().__init__(parent, key, spec, num_partitions)
        self.rows = rows  # "tuple": WindowResult; "compact": _fast.winrow.WindowRow
        self.size_us, self.slide_us = size_us, slide_us
        self.pane_us = gcd(size_us, slide_us)
        self.size_p = size_us // self.pane_us  # window length in panes
        self.slide_p = slide_us // self.pane_us

    @property
    def compact_rows(self) -> bool:
        """True when this window emits compact rows (the engine hands sinks tuples)."""
        return self.rows == "compact"

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "size_us": self.size_us, "slide_us": self.slide_us}

    def new_state(self) -> Any:
        return _fast.window.PaneStore(self.spec.agg)

    def encode_state(self, state: Any) -> Any:
        return state.to_state()

    def decode_state(self, data: Any) -> Any:
        return _fast.window.PaneStore.from_state(self.spec.agg, data)

    def state_len(self, state: Any) -> int:
        return len(state)

    def is_late(self, t_us: int, wm_us: int) -> bool:
        # late once the last window holding t is final: all of t's windows were emitted
        return (t_us // self.slide_us) * self.slide_us + self.size_us <= wm_us

    def late_before(self, wm_us: int) -> int:
        # is_late, solved for t: (t // slide) * slide + size <= wm <=> t // slide <= m
        return ((wm_us - self.size_us) // self.slide_us + 1) * self.slide_us

    def _windows_of(self, pane: int) -> range:
        """Window numbers k whose panes ``[k*slide_p, k*slide_p + size_p)`` include ``pane``."""
        first = -((self.size_p - 1 - pane) // self.slide_p)  # ceil((pane - size_p + 1) / slide_p)
        return range(first, pane // self.slide_p + 1)

    def _result(self, store: Any, k: int, keys: set[Any] | None) -> list[WindowResult]:
        first = k * self.slide_p
        start = k * self.slide_us
        start_s, end_s = seconds(start), seconds(start + self.size_us)
        # looked up per window, not per row: the compact class the selected kernel builds
        cls = WindowResult if self.rows == "tuple" else _fast.winrow.WindowRow
        if keys is None:
            # made as the Records foreach_batch receives: the engine hands it on uncopied
            return store.rows(first, first + self.size_p - 1, cls, start_s, end_s, Records)
        pairs = [kv for kv in store.merge_range(first, first + self.size_p - 1) if kv[0] in keys]
        return _fast.window.rows(cls, pairs, start_s, end_s)

    def direct(self) -> bool:
        # final windows need no per-batch key sets: fold the records as they come
        spec = self.spec
        return (spec.emit == "final" and is_field(spec.extract)
                and all(f is None or is_field(f) for f in (spec.key, spec.value)))

    def fold_direct(self, state: Any, records: list[Any], cutoff: int | None, param: Any
                    ) -> tuple[list[Any], Any, Any]:
        spec = self.spec
        late, top = state.fold_records(records, spec.extract, spec.key, spec.value, cutoff,
                                       self.pane_us, to_us)
        return self.process(state, [], [], [], param["wm"], param["emitted"]), late, top

    def map_side(self, records: list[Any], side: int, n: int, param: Any,
                 ctx: TaskContext) -> list[Any]:
        """Records combined by (pane, key) before they leave for ``n`` > 1 partitions.

        As Spark's ``reduceByKey`` combines map-side: a block holds a partial aggregate
        per key and pane, not a record, so a shuffle moves (and pickles) as many
        entries as the batch has keys per pane (10,000 keys over 100,000 records a
        second: a tenth). Lateness was settled by ``_columns`` at this batch's
        watermark, so folding on time here is what the reduce side would do.
        """
        if n == 1 or not records:
            return super().map_side(records, side, n, param, ctx)
        (keys, times, values), top = self._columns(ctx, records, param["cutoff"])
        if top is not None:
            ctx.max_counter(f"max_event:{self.key}", top)
        store = self.new_state()
        store.fold(keys, times, values, self.pane_us)
        blocks: list[tuple[str, list[tuple[int, list[Any]]]]] = [(_PANES, []) for _ in range(n)]
        for pane, partials in store.to_state()[1]:
            for (_, panes), part in zip(blocks, route(partials, n), strict=True):
                if part:
                    panes.append((pane, part))
        return blocks

    def reduce_side(self, part: int, inputs: list[list[Any] | None], state: Any, param: Any,
                    ctx: TaskContext) -> tuple[list[Any], Any]:
        blocks = inputs[0] or []
        if not any(block[0] == _PANES for block in blocks if isinstance(block[0], str)):
            return super().reduce_side(part, inputs, state, param, ctx)
        by_pane: dict[int, set[Any]] = {}
        update = self.spec.emit != "final"
        for block in blocks:
            if isinstance(block[0], str):  # (_PANES, [(pane, partials), ...])
                for pane, partials in block[1]:
                    state.merge(pane, partials)
                    if update:
                        by_pane.setdefault(pane, set()).update(k for k, _ in partials)
            elif block[0]:  # columns (an empty partition's map side)
                state.fold(*block, self.pane_us)
                if update:
                    for pane, keys in self._keys_by_pane(block[0], block[1]).items():
                        by_pane.setdefault(pane, set()).update(keys)
        return self._emit(state, by_pane, param["wm"], param["emitted"]), state

    def process(self, state: Any, keys: list[Any], times: list[int], values: list[Any],
                wm_us: int | None, emitted_us: int | None) -> list[Any]:
        if keys:
            state.fold(keys, times, values, self.pane_us)
        by_pane = None if self.spec.emit == "final" else self._keys_by_pane(keys, times)
        return self._emit(state, by_pane, wm_us, emitted_us)

    def _emit(self, store: Any, by_pane: dict[int, set[Any]] | None, wm_us: int | None,
              emitted_us: int | None) -> list[Any]:
        """The batch's rows once its records are folded: final windows, or (``by_pane``:
        the keys each pane's new records touched) the updated ones; spent panes go."""
        if self.spec.emit == "final":
            out = self._final(store, wm_us, emitted_us)
        else:
            out = self._updated(store, by_pane or {}, wm_us)
        if wm_us is not None:  # panes that only final windows use can go
            k0 = (wm_us - self.size_us) // self.slide_us + 1
            store.drop_before(k0 * self.slide_p)
        # both lists are built window by window in ascending k, and window_start
        # (k * slide) and window_end (+ size) ascend with k: already in by_window order
        return out

    def _keys_by_pane(self, keys: list[Any], times: list[int]) -> dict[int, set[Any]]:
        pane_us = self.pane_us
        by_pane: dict[int, set[Any]] = {}
        for key, t in zip(keys, times, strict=True):
            by_pane.setdefault(t // pane_us, set()).add(key)
        return by_pane

    def _final(self, store: Any, wm_us: int | None, done: int | None) -> list[WindowResult]:
        """Every window that became final at this watermark, once."""
        if wm_us is None:
            return []
        ready = set()
        for pane in store.panes():
            for k in self._windows_of(pane):
                end = k * self.slide_us + self.size_us
                if end <= wm_us and (done is None or end > done):
                    ready.add(k)
        lists = [self._result(store, k, None) for k in sorted(ready)]
        if not lists:
            return Records()
        # the first window's list (a Records the kernel made) is the batch's: one window
        # (tumbling, most batches) is handed on as it is, and the next windows' rows are
        # added to it, not all of them copied into a new list whose parts are then freed
        out: list[WindowResult] = lists[0]
        for rows in lists[1:]:  # extend: the kernel's row lists, not a row at a time
            out += rows
        return out

    def _updated(self, store: Any, by_pane: dict[int, set[Any]],
                 wm_us: int | None) -> list[WindowResult]:
        """Windows (and keys) whose value this batch changed, unless already final."""
        touched: dict[int, set[Any]] = {}
        for pane, keys in by_pane.items():
            for k in self._windows_of(pane):
                if wm_us is None or k * self.slide_us + self.size_us > wm_us:
                    touched.setdefault(k, set()).update(keys)
        return [r for k in sorted(touched) for r in self._result(store, k, touched[k])]
