# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled session windows: the interface and results of ``session_ref``, in C.

``SessionStore`` is a ``session_table_c.SessionTable`` (per key, its open
sessions; merge on a bridging event; expiry by watermark; checkpoints) that
also reads batches and emits rows. A batch is read first into C buffers
(times as int64 microseconds, keys, values), then folded: an error in the
input (a missing field, an odd time, an unhashable key) leaves the store
untouched. ``process_records`` reads the time, key and value fields of tuple,
list and dict records itself, so a batch costs no Python call and no object
per event. Rows come in window order (``roworder.pxd``), ties as the
reference emits them.
"""

from cpython.dict cimport PyDict_CheckExact
from cpython.list cimport PyList_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free
from cpython.object cimport PyObject_Hash, PyTypeObject
from cpython.ref cimport Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_SET_ITEM
from libc.stdint cimport int64_t

from etlcore._fast.fields cimport F_INDEX, F_KEY, F_NONE, F_RECORD, read_field
from etlcore._fast.roworder cimport Order, sort_orders
from etlcore._fast.rows cimport PyObject_GC_IsTracked, PyObject_GC_UnTrack, make_row
from etlcore._fast.session_table_c cimport SessionTable
from etlcore._fast.session_types cimport M_DICT, Sess, Slot, grow
from etlcore._fast.times_c cimport int64_of, is_late, raise_top, time_us

from etlcore._fast._common import check_field
from etlcore._fast.session_ref import LIMIT, check_time, seconds

__all__ = ["SessionStore", "check_time"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept
    object PyType_GenericAlloc(PyTypeObject*, Py_ssize_t)

cdef int64_t C_LIMIT = LIMIT
cdef int64_t EXACT = 2**53  # ints below this convert to double exactly: x / US as in Python


cdef inline object secs(int64_t us):
    """``us / 1e6`` as Python's int true division gives it."""
    if -EXACT < us < EXACT:
        return <double>us / 1e6
    return seconds(us)


cdef inline int64_t as_time(object t) except? -1:
    """An event time as int64 in C, checked as ``check_time`` does."""
    cdef int overflow = 0
    cdef long long x
    if PyLong_CheckExact(t):
        x = PyLong_AsLongLongAndOverflow(t, &overflow)
        if not overflow and -C_LIMIT < x < C_LIMIT:
            return x
    return check_time(t)


cdef inline void put(object row, Py_ssize_t j, object item) noexcept:
    """Fill item ``j`` of a fresh tuple (SET_ITEM steals the reference taken here)."""
    Py_INCREF(item)
    PyTuple_SET_ITEM(row, j, item)


def _plain_tuple(cls) -> bool:
    """Whether ``cls`` is a tuple subclass of 5 items without a __dict__ (rows allocated in C)."""
    return (isinstance(cls, type) and issubclass(cls, tuple) and cls.__dictoffset__ == 0
            and len(getattr(cls, "_fields", ())) == 5)


cdef class SessionStore(SessionTable):
    """Open sessions per key for one key partition, and the rows a batch makes due."""

    # one batch, read before it is folded (kept between batches: no allocation per batch)
    cdef int64_t* b_time
    cdef int64_t* b_ikey
    cdef PyObject** b_key    # borrowed from the caller's records or columns
    cdef PyObject** b_val
    cdef Py_ssize_t* touched
    cdef Py_ssize_t b_cap
    cdef Py_ssize_t ntouched
    cdef Order* rows
    cdef Py_ssize_t rows_cap
    cdef bint busy

    def __dealloc__(self):
        PyMem_Free(self.b_time)
        PyMem_Free(self.b_ikey)
        PyMem_Free(self.b_key)
        PyMem_Free(self.b_val)
        PyMem_Free(self.touched)
        PyMem_Free(self.rows)

    # -- rows --------------------------------------------------------------------------

    cdef object row(self, Py_ssize_t slot, Sess* s, object result, bint direct):
        """One row; ``direct``: ``result`` is a plain tuple subclass, allocated here as
        ``tuple.__new__`` would, without the temporary tuple ``make_row`` copies."""
        cdef object key, count, row
        if result is None:
            return (self.key_of(slot), s.start, s.last, self.value(s), s.count)
        if not direct:
            return make_row(result, (self.key_of(slot), secs(s.start), secs(s.last + self.gap),
                                     self.value(s), s.count))
        key = self.key_of(slot)
        count = s.count
        row = PyType_GenericAlloc(<PyTypeObject*>result, 5)
        put(row, 0, key)
        put(row, 1, secs(s.start))
        put(row, 2, secs(s.last + self.gap))
        put(row, 3, count if self.counting else self.value(s))
        put(row, 4, count)
        # numbers and untracked keys cannot be part of a cycle: untracked, as make_row does
        if not PyObject_GC_IsTracked(key) and (
                self.counting or not PyObject_GC_IsTracked(<object>PyTuple_GET_ITEM(row, 3))):
            PyObject_GC_UnTrack(<void*>row)
        return row

    cdef int note(self, Py_ssize_t n, Sess* s, int64_t tie) except -1:
        """Record row ``n``'s window for the final sort."""
        if n == self.rows_cap:
            self.rows = <Order*>grow(self.rows, &self.rows_cap, n + 1, sizeof(Order))
        self.rows[n].a = s.start
        self.rows[n].b = s.last
        self.rows[n].tie = tie
        self.rows[n].i = n
        return 0

    # -- batches -----------------------------------------------------------------------

    cdef int begin(self, Py_ssize_t n) except -1:
        """Claim the batch buffers for ``n`` events (a reducer calling back in is refused)."""
        cdef Py_ssize_t cap
        if self.busy:
            raise RuntimeError("SessionStore.process called again while it runs")
        if n > self.b_cap:
            cap = self.b_cap
            self.b_time = <int64_t*>grow(self.b_time, &cap, n, sizeof(int64_t))
            cap = self.b_cap
            self.b_ikey = <int64_t*>grow(self.b_ikey, &cap, n, sizeof(int64_t))
            cap = self.b_cap
            self.b_key = <PyObject**>grow(self.b_key, &cap, n, sizeof(PyObject*))
            cap = self.b_cap
            self.b_val = <PyObject**>grow(self.b_val, &cap, n, sizeof(PyObject*))
            cap = self.b_cap
            self.touched = <Py_ssize_t*>grow(self.touched, &cap, n, sizeof(Py_ssize_t))
            self.b_cap = cap
        self.busy = True
        return 0

    cdef inline bint int_key(self, object k, Py_ssize_t i) except -1:
        """Buffer event ``i``'s key; False when it needs the dict (then it is hashed now)."""
        self.b_key[i] = <PyObject*>k
        if self.mode != M_DICT and int64_of(k, &self.b_ikey[i]):
            return True
        PyObject_Hash(k)  # an unhashable key fails here, before anything changed
        return False

    cdef int fold_batch(self, Py_ssize_t n, bint need_dict, bint update) except -1:
        """Fold the ``n`` buffered events into the table (``update``: note the slots touched)."""
        self.ntouched = self.fold_events(n, self.b_time, self.b_ikey, self.b_key, self.b_val,
                                         need_dict, self.touched if update else NULL)
        return 0

    cdef list finish(self, object wm_us, bint update, object result):
        """The rows due after a fold: changed sessions (update) and finished ones, dropped."""
        cdef Py_ssize_t i, j, m, slot, nr = 0
        cdef int64_t wm = 0
        cdef Slot* k
        cdef list out = []
        cdef list ordered
        cdef bint direct = result is not None and _plain_tuple(result)
        if wm_us is not None:
            wm = check_time(wm_us, "watermark")
        for j in range(self.ntouched):  # update mode only
            k = &self.slots[self.touched[j]]
            for i in range(k.n):
                if k.s[i].changed:
                    self.note(nr, &k.s[i], nr)
                    out.append(self.row(self.touched[j], &k.s[i], result, direct))
                    nr += 1
                    k.s[i].changed = 0
        if wm_us is not None:
            # each due key comes once; rows of different keys that tie on (start, last)
            # sort by the order the keys were first seen, as the reference emits them
            slot = self.next_due(wm)
            while slot >= 0:
                m = self.nfinal(slot, wm)
                if not update:
                    k = &self.slots[slot]
                    for i in range(m):
                        self.note(nr, &k.s[i], k.seq)
                        out.append(self.row(slot, &k.s[i], result, direct))
                        nr += 1
                self.drop_first(slot, m)
                slot = self.next_due(wm)
        # window order (start, last); ties in the order the reference emits them
        sort_orders(self.rows, nr)
        ordered = [None] * nr
        for j in range(nr):
            ordered[j] = out[self.rows[j].i]
        return ordered

    def process(self, keys, times_us, values, wm_us, bint update, result=None) -> list:
        """Apply a batch's events (columns, arrival order); the rows due, finished ones dropped.

        Rows are ``(key, start_us, last_us, value, count)``, or with ``result``
        (a 5-field tuple subclass such as SessionResult) ``result(key, start_s,
        (last + gap)_s, value, count)`` built with no Python call per row.
        Every time is checked before any event is applied.
        """
        cdef list ks = keys if PyList_CheckExact(keys) else list(keys)
        cdef list ts = times_us if PyList_CheckExact(times_us) else list(times_us)
        cdef list vs = values if PyList_CheckExact(values) else list(values)
        cdef Py_ssize_t i, n = len(ks)
        cdef bint need_dict = False
        if not n == len(ts) == len(vs):
            raise ValueError("process: keys, times_us and values differ in length")
        self.begin(n)
        try:
            for i in range(n):
                self.b_time[i] = as_time(ts[i])
                if not self.int_key(ks[i], i):
                    need_dict = True
                self.b_val[i] = <PyObject*>vs[i]
            self.fold_batch(n, need_dict, update)
            return self.finish(wm_us, update, result)
        finally:
            self.busy = False

    def process_records(self, records, time, key, value, cutoff, wm_us, bint update,
                        result, convert) -> tuple:
        """``process`` of the records' own fields: ``(rows, late_indexes, max_on_time_us)``.

        ``time`` is a field reference (an int index or a str key), ``key`` and
        ``value`` references or None (key None; value the record itself), read
        in C from tuples, lists and dicts. Times convert as ``convert`` (to_us)
        does; records with a time below ``cutoff`` are late: listed, not folded.
        Any error (a missing field, an odd time, an unhashable key) is raised
        before an event is applied, so the caller can go record by record.
        """
        cdef list recs = records if PyList_CheckExact(records) else list(records)
        cdef Py_ssize_t n = len(recs)
        for field, what in ((time, "time"), (key, "key"), (value, "value")):
            if isinstance(field, list):
                raise ValueError("process_records: time must be a field reference; key and "
                                 "value references or None")
            check_field(field, what)
        if time is None:
            raise ValueError("process_records: time must be a field reference")
        cdef int tk = F_INDEX if isinstance(time, int) else F_KEY
        cdef int kk = F_NONE if key is None else (F_INDEX if isinstance(key, int) else F_KEY)
        cdef int vk = F_RECORD if value is None else (F_INDEX if isinstance(value, int) else F_KEY)
        cdef Py_ssize_t ti = time if tk == F_INDEX else 0
        cdef Py_ssize_t ki = key if kk == F_INDEX else 0
        cdef Py_ssize_t vi = value if vk == F_INDEX else 0
        cdef Py_ssize_t i, m = 0
        cdef object rec, t, k, v, top = None
        cdef list late = []
        cdef list keep = None    # fields of records read through __getitem__: held here
        cdef int64_t c, cut = 0, top_c = 0
        cdef bint any_c = False, need_dict = False
        cdef bint cut_c = int64_of(cutoff, &cut)
        self.begin(n)
        try:
            for i in range(n):
                rec = recs[i]
                t = read_field(rec, tk, ti, time, None, 0)
                k = read_field(rec, kk, ki, key, None, 0)  # read before the lateness check: a
                v = read_field(rec, vk, vi, value, None, 0)  # record missing a field fails
                if time_us(t, &c):
                    if is_late(c, cut_c, cut, cutoff):
                        late.append(i)
                        continue
                    if not -C_LIMIT < c < C_LIMIT:
                        check_time(c)  # raises
                else:
                    t = convert(t)
                    if cutoff is not None and t < cutoff:
                        late.append(i)
                        continue
                    c = check_time(t)
                raise_top(c, &any_c, &top_c)
                self.b_time[m] = c
                if not self.int_key(k, m):
                    need_dict = True
                self.b_val[m] = <PyObject*>v
                if not (PyTuple_Check(rec) or PyList_CheckExact(rec) or PyDict_CheckExact(rec)):
                    if keep is None:
                        keep = []
                    keep.append(k)
                    keep.append(v)
                m += 1
            if any_c:
                top = top_c
            self.fold_batch(m, need_dict, update)
            return self.finish(wm_us, update, result), late, top
        finally:
            self.busy = False

