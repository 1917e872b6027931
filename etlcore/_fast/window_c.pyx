# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled pane-based windows: the interface and results of ``window_ref``, in C.

Panes are ``hashagg_c.HashAgg`` objects whose slots also count the records
they folded; window maintenance merges and expires them slot to slot
(``merge_from``/``expire_from``) without materialising Python partials.
Event-time columns are converted (``event_times_us``) and folded into panes
(``PaneStore.fold``) in one C loop each, with no per-record tuples.
"""

cimport cython
from operator import index

from cpython.dict cimport PyDict_CheckExact
from cpython.float cimport PyFloat_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_SET_ITEM
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport int64_t, uint64_t

from etlcore._fast.foldevent cimport Ev, ev_val
from etlcore._fast.fields cimport F_INDEX, F_KEY, F_LIST, F_NONE, F_RECORD, read_field
from etlcore._fast.hashagg_c cimport (
    T_DEAD,
    T_FLOAT,
    T_INT,
    T_OBJ,
    T_UNSET,
    HashAgg,
    Val,
    classify,
)
from etlcore._fast.inttable cimport ICell, it_cap_for, it_clear, it_home, it_tag
from etlcore._fast.keytable_c cimport M_INT, M_NEW
from etlcore._fast.rows cimport (
    etl_list_alloc,
    etl_row4_untracked,
    etl_row_class,
    etl_row_class_bare,
    make_row4,
)
from etlcore._fast.winrow_c cimport Span, WindowRow, compact_rows, row_of, span_of
from etlcore._fast.times_c cimport int64_of, is_late, raise_top, time_us
from etlcore._fast.values cimport acc_add

from etlcore._fast._common import CALL, STATE_VERSION, SUM, check_field, check_state, reducer_code

__all__ = ["PaneStore", "SlidingWindow", "columns", "event_times_us", "rows"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept
    int PyObject_GC_IsTracked(object) noexcept

cdef extern from *:
    """
    #define etl_prefetch(p) __builtin_prefetch(p)
    """
    void etl_prefetch(const void*) noexcept nogil

cdef enum:
    PREFETCH = 8  # events ahead whose table cell fold_events prefetches


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    """Python's ``a // b`` for ``b > 0`` (cdivision truncates toward zero)."""
    cdef int64_t q = a / b
    if a % b != 0 and a < 0:
        q -= 1
    return q


def event_times_us(times, cutoff, convert) -> tuple:
    """Event times in integer microseconds, the late ones, and the latest on time.

    ``convert`` is the careful per-record conversion (its errors propagate);
    exact floats and ints are converted in C with the same result. A record is
    late when its time is below ``cutoff`` (None: nothing is late). Returns
    ``(us, late_indexes, max_on_time_us or None)``.
    """
    cdef list items = times if PyList_CheckExact(times) else list(times)
    cdef Py_ssize_t i, n = len(items)
    cdef list us = [None] * n
    cdef list late = []
    cdef object t, top = None
    cdef int64_t c, cut = 0, top_c = 0
    cdef bint any_c = False
    cdef bint cut_c = int64_of(cutoff, &cut)
    for i in range(n):
        if time_us(items[i], &c):
            us[i] = c
            if is_late(c, cut_c, cut, cutoff):
                late.append(i)
                continue
            raise_top(c, &any_c, &top_c)
        else:
            t = convert(items[i])
            us[i] = t
            if cutoff is not None and t < cutoff:
                late.append(i)
            elif top is None or t > top:
                top = t
    if any_c and (top is None or top_c > top):
        top = top_c
    return us, late, top


cdef inline int field_kind(object field, str what) except -1:
    if isinstance(field, list):
        return F_LIST
    check_field(field, what)
    if field is None:
        return F_NONE
    return F_INDEX if isinstance(field, int) else F_KEY


@cython.final
cdef class Fields:
    """The time, key and value references of one call, and the fields of the record read last.

    ``read`` is the one field-read loop body of ``columns``, ``scan`` and
    ``PaneStore.fold_records``: each reference is an int index (tuples, lists),
    a str key (dicts), a precomputed column (``columns`` only) or None (key:
    None; value: the record itself), read in C with no Python call.
    """

    cdef int tk, kk, vk
    cdef Py_ssize_t ti, ki, vi
    cdef object time, key, value
    cdef list tcol, kcol, vcol
    cdef object t, k, v

    def __cinit__(self, time, key, value, str caller, bint columns_ok, Py_ssize_t n):
        self.tk = field_kind(time, "time")
        self.kk = field_kind(key, "key")
        self.vk = F_RECORD if value is None else field_kind(value, "value")
        if columns_ok:
            if self.tk == F_NONE:
                raise ValueError(f"{caller}: time must be a field reference or a column")
        elif self.tk not in (F_INDEX, F_KEY) or self.kk == F_LIST or self.vk == F_LIST:
            raise ValueError(f"{caller}: time must be a field reference; key and value "
                             "references or None")
        self.time, self.key, self.value = time, key, value
        self.tcol = time if self.tk == F_LIST else None
        self.kcol = key if self.kk == F_LIST else None
        self.vcol = value if self.vk == F_LIST else None
        for col in (self.tcol, self.kcol, self.vcol):
            if col is not None and len(col) != n:
                raise ValueError(f"{caller}: a column differs in length from the records")
        self.ti = time if self.tk == F_INDEX else 0
        self.ki = key if self.kk == F_INDEX else 0
        self.vi = value if self.vk == F_INDEX else 0

    cdef inline int read(self, object rec, Py_ssize_t i) except -1:
        """Read record ``i``'s time, key and value (all three: a record missing one fails
        even when it turns out late)."""
        self.t = read_field(rec, self.tk, self.ti, self.time, self.tcol, i)
        self.k = read_field(rec, self.kk, self.ki, self.key, self.kcol, i)
        self.v = read_field(rec, self.vk, self.vi, self.value, self.vcol, i)
        return 0


def columns(records, time, key, value, cutoff, convert) -> tuple:
    """Records as event-time columns in one pass: ``(keys, times_us, values, late, top)``.

    ``time``, ``key`` and ``value`` are each a field reference (an int index or
    a str key: ``record[ref]``, read here without a Python call), a list
    holding the column already computed (by a user's callable), or None (key:
    None for every record; value: the record itself). Times convert as in
    ``event_times_us``; late records (time below ``cutoff``) are left out of
    the columns and listed by index. Errors (a missing field, an odd time)
    propagate: the caller then goes record by record.
    """
    cdef list recs = records if PyList_CheckExact(records) else list(records)
    cdef Fields f = Fields(time, key, value, "columns", True, len(recs))
    cdef list keys = [], times = [], vals = [], late = []
    cdef Py_ssize_t i
    cdef object t, top = None
    cdef int64_t c, cut = 0, top_c = 0
    cdef bint any_c = False
    cdef bint cut_c = int64_of(cutoff, &cut)
    for i in range(len(recs)):
        f.read(recs[i], i)
        t = f.t
        if time_us(t, &c):
            if is_late(c, cut_c, cut, cutoff):
                late.append(i)
                continue
            raise_top(c, &any_c, &top_c)
            times.append(c)
        else:
            t = convert(t)
            if cutoff is not None and t < cutoff:
                late.append(i)
                continue
            if top is None or t > top:
                top = t
            times.append(t)
        keys.append(f.k)
        vals.append(f.v)
    if any_c and (top is None or top_c > top):
        top = top_c
    return keys, times, vals, late, top


cdef bint recyclable(HashAgg agg):
    """Whether a dropped pane's C arrays can serve the next pane: int keys only and no
    Python object held (no key list, no Python accumulator), so emptying it is a reset."""
    return agg.mode == M_INT and agg.objs is None and len(agg.keys) == 0


cdef int reset(HashAgg agg) except -1:
    """Empty a ``recyclable`` aggregator, keeping its table and slot arrays: every cell
    back to IT_EMPTY (``it_clear``), no slot in use, no key mode yet."""
    it_clear(&agg.table)
    agg.size = 0
    agg.live = 0
    agg.mode = M_NEW
    return 0


def rows(cls, pairs, start, end) -> list:
    """``[cls(key, start, end, value) for key, value in pairs]`` with no Python call per row.

    ``cls`` is a tuple subclass whose fields are exactly those four (the NamedTuple
    ``WindowResult``), or the compact ``winrow_c.WindowRow``.
    """
    cdef list items = pairs if PyList_CheckExact(pairs) else list(pairs)
    cdef list out = [None] * len(items)
    cdef Py_ssize_t i
    cdef tuple pair
    cdef Span span
    if cls is WindowRow:
        span = span_of(start, end)
        for i in range(len(items)):
            pair = items[i]
            out[i] = row_of(pair[0], span, pair[1])
        return out
    if not etl_row_class(cls):
        raise TypeError(f"rows: {cls!r} is not a tuple subclass or the compact WindowRow")
    for i in range(len(items)):
        pair = items[i]
        out[i] = make_row4(cls, pair[0], start, end, pair[1])
    return out


cdef class PaneStore:
    """Per-pane, per-key partial aggregates, merged over any range of panes."""

    cdef object reducer
    cdef int code
    cdef dict store
    cdef Py_ssize_t hint  # keys of the newest pane so far: a new pane's table is sized for it
    cdef HashAgg newest
    # a dropped pane's aggregator, emptied for the next new pane: at many keys a pane's
    # table and slots are megabytes, and fresh ones cost a page fault every 4 KiB
    cdef HashAgg spare

    def __cinit__(self, reducer):
        self.code = reducer_code(reducer)
        self.reducer = reducer
        self.store = {}

    def __len__(self):
        return len(self.store)

    def add(self, pane, pairs) -> None:
        """Fold raw ``(key, value)`` records into pane ``pane``."""
        pane = index(pane)
        agg = self.store.get(pane)
        if agg is None:
            agg = self.store[pane] = HashAgg(self.reducer)
        (<HashAgg>agg).add_pairs(pairs)

    def merge(self, pane, partials) -> None:
        """Merge ``(key, partial)`` pairs (a pane of another store's ``to_state()``: a
        map side's combine) into pane ``pane``."""
        (<HashAgg>self.pane_agg(index(pane))).merge_partials(partials)

    def fold(self, keys, times_us, values, pane_us) -> None:
        """Fold records, given as columns, into pane ``time // pane_us`` each."""
        cdef list ks = keys if PyList_CheckExact(keys) else list(keys)
        cdef list ts = times_us if PyList_CheckExact(times_us) else list(times_us)
        cdef list vs = values if PyList_CheckExact(values) else list(values)
        if not len(ks) == len(ts) == len(vs):
            raise ValueError("fold: keys, times_us and values differ in length")
        cdef int64_t width = index(pane_us)
        if width <= 0:
            raise ValueError(f"fold: pane_us must be positive, not {pane_us}")
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t s
        cdef int overflow
        cdef int64_t t, q, last_q = 0
        cdef object t_obj, key, value
        cdef HashAgg agg = None
        cdef bint cached = False  # agg is pane last_q's
        cdef Val v
        # a callable reducer could shrink the lists: re-check the bound every record
        while i < len(ks) and i < len(ts) and i < len(vs):
            t_obj = ts[i]
            overflow = 1
            if PyLong_CheckExact(t_obj):
                t = PyLong_AsLongLongAndOverflow(t_obj, &overflow)
            if not overflow:
                q = floor_div(t, width)
                if not cached or q != last_q:
                    agg = self.pane_agg(q)
                    last_q = q
                    cached = True
            else:  # a time beyond int64 (or not an exact int): Python arithmetic
                agg = self.pane_agg(index(t_obj) // width)
                cached = False
            key = ks[i]
            value = vs[i]  # held: classify borrows it
            s = agg.slot_for(key)
            classify(value, &v)
            agg.fold_value(s, &v)
            i += 1

    def fold_records(self, records, time, key, value, cutoff, pane_us, convert) -> tuple:
        """Fold the on-time records, read straight from them: ``(late_indexes, max_on_time_us)``.

        What ``columns(records, ...)`` then ``fold`` do, with each record read
        once: first every record's time, key and value are read and its time
        converted into a C buffer (a missing field or an odd time raises here,
        before any pane changed, so the caller can go record by record), then
        the buffer is folded, the next records' table cells prefetched. Records
        with a time below ``cutoff`` are late: listed, not folded.
        """
        cdef list recs = records if PyList_CheckExact(records) else list(records)
        cdef Py_ssize_t n = len(recs)
        cdef Fields f = Fields(time, key, value, "fold_records", False, n)
        cdef int64_t width = index(pane_us)
        if width <= 0:
            raise ValueError(f"fold_records: pane_us must be positive, not {pane_us}")
        cdef Ev* ev = <Ev*>PyMem_Malloc((n if n else 1) * sizeof(Ev))
        if ev == NULL:
            raise MemoryError()
        cdef list late = []
        cdef list odd = None   # panes beyond int64 (Python ints), indexed by Ev.pane
        cdef list keep = None  # fields their record does not own, held while folded
        cdef bint hold = self.code == CALL  # user code runs mid-fold
        cdef Py_ssize_t i, m = 0
        cdef object rec, t, top = None, q_obj
        cdef PyObject* kp
        cdef PyObject* vp
        cdef int64_t c, x, top_c = 0, cut = 0, pane_lo = 0, q = 0
        cdef bint any_c = False, have_pane = False, read_c
        cdef bint cut_c = int64_of(cutoff, &cut)
        cdef int overflow
        cdef Ev* e
        cdef Val v
        # tuples read by non-negative indexes: fields borrowed straight from the tuple
        cdef bint tuples = f.tk == F_INDEX and f.kk == F_INDEX and f.vk == F_INDEX and (
            f.ti >= 0 and f.ki >= 0 and f.vi >= 0)
        cdef Py_ssize_t need = max(f.ti, f.ki, f.vi) + 1
        v.tag = T_UNSET  # (classify sets it; the compiler cannot tell)
        v.i = 0
        v.f = 0
        try:
            for i in range(n):  # 1: read and check every record; nothing changes yet
                rec = recs[i]
                read_c = False
                if tuples and PyTuple_CheckExact(rec) and PyTuple_GET_SIZE(rec) >= need:
                    read_c = time_us(<object>PyTuple_GET_ITEM(rec, f.ti), &c)
                if read_c:
                    kp = PyTuple_GET_ITEM(rec, f.ki)
                    vp = PyTuple_GET_ITEM(rec, f.vi)
                else:
                    f.read(rec, i)
                    t = f.t
                    kp = <PyObject*>f.k
                    vp = <PyObject*>f.v
                    read_c = time_us(t, &c)
                e = &ev[m]
                e.big = 0
                if read_c:
                    if is_late(c, cut_c, cut, cutoff):
                        late.append(i)
                        continue
                    raise_top(c, &any_c, &top_c)
                    # the pane of the record before, unless c left it (no division then)
                    if not have_pane or <uint64_t>c - <uint64_t>pane_lo >= <uint64_t>width:
                        q = floor_div(c, width)
                        pane_lo = q * width
                        have_pane = True
                    e.pane = q
                else:
                    t = convert(t)
                    if cutoff is not None and t < cutoff:
                        late.append(i)
                        continue
                    if top is None or t > top:
                        top = t
                    q_obj = index(t) // width
                    overflow = 1
                    if PyLong_CheckExact(q_obj):
                        e.pane = PyLong_AsLongLongAndOverflow(q_obj, &overflow)
                    if overflow:
                        if odd is None:
                            odd = []
                        e.big = 1
                        e.pane = len(odd)
                        odd.append(q_obj)
                e.boxed = 1
                e.key.o = kp
                if PyLong_CheckExact(<object>kp):
                    overflow = 0
                    x = PyLong_AsLongLongAndOverflow(<object>kp, &overflow)
                    if not overflow:
                        e.boxed = 0
                        e.key.i = x
                if hold:  # a callable reducer gets every value as its object
                    e.vtag = T_OBJ
                    e.v.o = vp
                else:
                    classify(<object>vp, &v)  # here: its load overlaps the time's and key's
                    e.vtag = v.tag
                    if v.tag == T_FLOAT:
                        e.v.f = v.f
                    elif v.tag == T_INT:
                        e.v.i = v.i
                    elif v.tag == T_OBJ:
                        e.v.o = vp
                if hold or not (PyTuple_Check(rec) or PyList_CheckExact(rec)
                                or PyDict_CheckExact(rec)):
                    if keep is None:
                        keep = []
                    keep.append(<object>kp)
                    keep.append(<object>vp)
                m += 1
            if any_c and (top is None or top_c > top):
                top = top_c
            self.fold_events(ev, m, odd)  # 2: fold
        finally:
            PyMem_Free(ev)
        return late, top

    cdef int fold_events(self, Ev* ev, Py_ssize_t m, list odd) except -1:
        """Fold the buffered events in order, prefetching (int keys) the home cell of the
        event ``PREFETCH`` ahead and the slot of the one half as far: probes and sums of a
        table larger than the cache wait less."""
        cdef Py_ssize_t j, s
        cdef int64_t last_q = 0
        cdef bint cached = False
        cdef HashAgg agg = None
        cdef Ev* e
        cdef Ev* p
        cdef ICell* c
        cdef Val v
        cdef bint sums = self.code == SUM
        for j in range(m):
            e = &ev[j]
            if e.big:
                agg = self.pane_agg(odd[e.pane])
                cached = False
            elif not cached or e.pane != last_q:
                agg = self.pane_agg(e.pane)
                last_q = e.pane
                cached = True
            if j + PREFETCH < m and agg.mode == M_INT:
                p = &ev[j + PREFETCH]
                if not p.boxed:
                    etl_prefetch(&agg.table.cells[it_home(&agg.table, p.key.i)])
                p = &ev[j + PREFETCH // 2]  # its cell is on the way: fetch its slot too
                if not p.boxed:  # a matching tag: most likely its slot (a hint only)
                    c = &agg.table.cells[it_home(&agg.table, p.key.i)]
                    if c.tag == it_tag(p.key.i) and 0 <= c.v < agg.cap:
                        etl_prefetch(&agg.accs[c.v])
            if e.boxed:
                s = agg.slot_for(<object>e.key.o)
            elif agg.mode == M_INT or agg.mode == M_NEW:
                s = agg.slot_for_int(e.key.i)
            else:
                s = agg.slot_for(e.key.i)  # boxed: the pane holds other keys too
            ev_val(e, &v)
            if sums and v.tag != T_UNSET and acc_add(&agg.accs[s], &v):  # sum, in C
                agg.accs[s].r += 1
                continue
            agg.fold_value(s, &v)
        return 0

    cdef HashAgg pane_agg(self, object pane):
        """The pane's aggregator, created on first use, sized like the newest pane."""
        agg = self.store.get(pane)
        if agg is None:
            if self.newest is not None:
                self.hint = len(self.newest)
            # the spare, unless its table is far larger than this pane needs
            if self.spare is not None and self.spare.table.cap <= 4 * it_cap_for(self.hint):
                agg = self.spare
                reset(<HashAgg>agg)
            else:
                agg = HashAgg(self.reducer)
            self.spare = None
            self.store[pane] = agg
            (<HashAgg>agg).reserve(self.hint)
            self.newest = <HashAgg>agg
        return <HashAgg>agg

    def rows(self, first, last, cls, start, end, into=list):
        """``into(rows(cls, merge_range(first, last), start, end))`` without the pairs in
        between: ``into`` is list or a list subclass adding no fields (``Records``), made
        here at its length, so no copy of the rows is needed to hand them on."""
        first, last = index(first), index(last)
        cdef HashAgg agg
        cdef Py_ssize_t s, j
        if first == last:
            found = self.store.get(first)
            if found is None:
                return etl_list_alloc(into, 0)
            agg = <HashAgg>found
        else:
            agg = HashAgg(self.reducer)
            for pane in sorted(self.store):
                if first <= pane <= last:
                    agg.merge_from(<HashAgg>self.store[pane], True)
        if cls is WindowRow:
            return compact_rows(agg, into, start, end)
        cdef object k, v, row
        cdef object out
        if not etl_row_class(cls):
            raise TypeError(f"rows: {cls!r} is not a tuple subclass")
        # rows of exact ints and floats are never tracked by the cyclic GC (as make_row4
        # would leave them), so they skip the GC link, the zeroing and the untracking
        cdef bint plain = etl_row_class_bare(cls) and not (PyObject_GC_IsTracked(start)
                                                          or PyObject_GC_IsTracked(end))
        out = etl_list_alloc(into, agg.live)
        j = 0
        for s in range(agg.size):  # one pass: each row allocated and filled in place
            if agg.accs[s].tag != T_DEAD:
                k = agg.key_at(s)
                v = agg.finalize(s)
                if plain and PyLong_CheckExact(k) and (PyFloat_CheckExact(v)
                                                       or PyLong_CheckExact(v)):
                    row = etl_row4_untracked(cls, k, start, end, v)
                else:
                    row = make_row4(cls, k, start, end, v)
                Py_INCREF(row)  # PyList_SET_ITEM steals a reference
                PyList_SET_ITEM(out, j, row)
                j += 1
        return out

    def merge_range(self, first, last) -> list:
        """Finalized aggregate over panes ``first..last`` inclusive."""
        first, last = index(first), index(last)
        if first == last:  # one pane (tumbling windows): its results, no merge
            agg = self.store.get(first)
            return [] if agg is None else (<HashAgg>agg).results()
        cdef HashAgg total = HashAgg(self.reducer)
        for pane in sorted(self.store):
            if first <= pane <= last:
                total.merge_from(<HashAgg>self.store[pane], True)
        return total.results()

    def drop_before(self, pane) -> None:
        """Forget every pane older than ``pane`` (they left every window)."""
        pane = index(pane)
        for old in [p for p in self.store if p < pane]:
            if self.store[old] is self.newest:  # keep its size as the hint, not the pane
                self.hint = len(self.newest)
                self.newest = None
            if self.spare is None and recyclable(<HashAgg>self.store[old]):
                self.spare = <HashAgg>self.store[old]
            del self.store[old]

    def panes(self) -> list:
        """Pane numbers held, ascending."""
        return sorted(self.store)

    def to_state(self) -> tuple:
        """Checkpoint as plain data: ``(version, [(pane, partials), ...])``."""
        return (STATE_VERSION, [(p, self.store[p].partials()) for p in sorted(self.store)])

    @classmethod
    def from_state(cls, reducer, state) -> PaneStore:
        """Rebuild a store from ``to_state()``."""
        cdef PaneStore store = cls(reducer)
        cdef HashAgg agg
        for pane, partials in check_state(state, "PaneStore"):
            agg = store.store[index(pane)] = HashAgg(reducer)
            agg.merge_partials(partials)
        return store


# processing-time sliding windows live in sliding_c (re-exported: _fast.window.SlidingWindow)
from etlcore._fast.sliding_c import SlidingWindow  # noqa: E402
