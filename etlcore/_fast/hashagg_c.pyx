# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled combine-by-key: the interface and results of ``hashagg_ref``, in C.

Each key owns a slot with a tagged accumulator: exact ints that fit int64 and
exact floats are added in C (``T_INT``/``T_FLOAT``), and anything else, or an
int64 overflow, falls back to Python objects (``T_OBJ``) with the same
operations the reference performs, in the same order, so results are equal
bit for bit. Keys are indexed by a C open-addressing table while every key is
an exact int64 (hashed by value) or every key an exact str (Python's cached,
seeded str hash, so no hash flooding; equal strs compare by memcmp), and by a
dict (Python equality: ``1 == 1.0``) from the first key that breaks that on.
"""

cimport cython
from cpython.dict cimport PyDict_GetItemWithError
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check, PyFloat_CheckExact
from cpython.list cimport PyList_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport Py_GT, Py_LT, PyObject_Hash, PyObject_RichCompareBool
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_CheckExact
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isnan
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint64_t
from libc.string cimport memcmp

from etlcore._fast import _common
from etlcore._fast._common import STATE_VERSION, check_field, check_state, reducer_code

__all__ = ["HashAgg", "combine", "count_values", "merge"]

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept
    Py_ssize_t PyUnicode_GET_LENGTH(object) noexcept
    int PyUnicode_KIND(object) noexcept
    void* PyUnicode_DATA(object) noexcept

cdef extern from *:
    """
    #define ETL_FIB64 0x9E3779B97F4A7C15ULL
    """
    uint64_t ETL_FIB64  # Fibonacci hashing multiplier (2**64 / golden ratio)

# reducer codes, checked against _common below
cdef enum:
    R_SUM = 0
    R_COUNT = 1
    R_MIN = 2
    R_MAX = 3
    R_MEAN = 4
    R_CALL = 5

# table cells
cdef enum:
    EMPTY = -1
    TOMB = -2
    MIN_TABLE = 16

if (_common.SUM, _common.COUNT, _common.MIN, _common.MAX, _common.MEAN, _common.CALL) != (
    R_SUM, R_COUNT, R_MIN, R_MAX, R_MEAN, R_CALL
):
    raise ImportError("etlcore._fast.hashagg_c is out of date with _common: rebuild it")


# ---------------------------------------------------------------- values


cdef inline object val_obj(Val* v):
    """The Python object a tagged value stands for."""
    if v.tag == T_INT:
        return v.i
    if v.tag == T_FLOAT:
        return v.f
    if v.tag == T_OBJ:
        return <object>v.o
    return None


cdef inline bint add_overflows(int64_t a, int64_t b) noexcept nogil:
    return (b > 0 and a > INT64_MAX - b) or (b < 0 and a < INT64_MIN - b)


cdef inline bint sub_overflows(int64_t a, int64_t b) noexcept nogil:
    return (b < 0 and a > INT64_MAX + b) or (b > 0 and a < INT64_MIN + b)


cdef inline bint str_eq(PyObject* a, PyObject* b) noexcept:
    """Equality of two exact strs: canonical (PEP 393) storage makes it a memcmp."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(<object>a)
    cdef int kind = PyUnicode_KIND(<object>a)
    if n != PyUnicode_GET_LENGTH(<object>b) or kind != PyUnicode_KIND(<object>b):
        return False
    return memcmp(PyUnicode_DATA(<object>a), PyUnicode_DATA(<object>b), n * kind) == 0


cdef inline bint is_nan_obj(object value) noexcept:
    return PyFloat_Check(value) and isnan(PyFloat_AS_DOUBLE(value))


# ---------------------------------------------------------------- HashAgg


@cython.final
cdef class HashAgg:
    """Per-key running aggregates for one reducer (map-side combine and reduce-side merge)."""

    def __cinit__(self, reducer):
        self.code = reducer_code(reducer)
        self.fn = reducer if self.code == R_CALL else None
        self.keys = []
        self.objs = []
        self.mode = M_NEW
        self.table_alloc(MIN_TABLE)

    def __dealloc__(self):
        PyMem_Free(self.accs)
        PyMem_Free(self.cells)

    def __len__(self):
        return self.live

    def __repr__(self):
        name = self.fn if self.code == R_CALL else ("sum", "count", "min", "max", "mean")[self.code]
        return f"HashAgg({name!r}, keys={self.live})"

    # -- key index ------------------------------------------------------------

    cdef int table_alloc(self, Py_ssize_t cap) except -1:
        """Fresh empty table of ``cap`` (a power of two) cells."""
        cdef Cell* cells = <Cell*>PyMem_Malloc(cap * sizeof(Cell))
        cdef Py_ssize_t j
        cdef int bits = 0
        if cells == NULL:
            raise MemoryError()
        for j in range(cap):
            cells[j].slot = EMPTY
        while (<Py_ssize_t>1 << bits) < cap:
            bits += 1
        PyMem_Free(self.cells)
        self.cells = cells
        self.tcap = cap
        self.tfill = 0
        self.tshift = 64 - bits
        return 0

    cdef int reserve(self, Py_ssize_t n) except -1:
        """Room for ``n`` keys before any regrowth (a fresh aggregator only: else no-op)."""
        cdef Py_ssize_t cap = MIN_TABLE
        cdef Acc* accs
        if self.size or n <= 0:
            return 0
        while cap < n * 4:  # table_size()'s rule for n live keys
            cap *= 2
        if cap > self.tcap:
            self.table_alloc(cap)
        if n > self.cap:
            accs = <Acc*>PyMem_Realloc(self.accs, n * sizeof(Acc))
            if accs == NULL:
                raise MemoryError()
            self.accs = accs
            self.cap = n
        return 0

    cdef inline Py_ssize_t table_home(self, int64_t k) noexcept:
        """Fibonacci hashing: the top bits of k * 2**64/phi spread sequential ints."""
        return <Py_ssize_t>((<uint64_t>k * ETL_FIB64) >> self.tshift)

    cdef int table_put(self, int64_t k, Py_ssize_t s, PyObject* obj) noexcept:
        """Insert a key known to be absent (rebuilds only)."""
        cdef Py_ssize_t mask = self.tcap - 1
        cdef Py_ssize_t j = self.table_home(k)
        while self.cells[j].slot != EMPTY:
            j = (j + 1) & mask
        self.cells[j].k = k
        self.cells[j].slot = s
        self.cells[j].obj = obj
        self.tfill += 1
        return 0

    cdef Py_ssize_t table_size(self) noexcept:
        """Cells for the live keys at a load of at most 1/4 (rebuilt past 1/2)."""
        cdef Py_ssize_t cap = MIN_TABLE
        while cap < self.live * 4:
            cap *= 2
        return cap

    cdef int table_rebuild(self) except -1:
        """Regrow (or just clear tombstones) so the table stays at most half full."""
        cdef Cell* old = self.cells
        cdef Py_ssize_t old_cap = self.tcap
        cdef Py_ssize_t j
        self.cells = NULL
        try:
            self.table_alloc(self.table_size())
        except MemoryError:
            self.cells = old
            raise
        for j in range(old_cap):
            if old[j].slot >= 0:
                self.table_put(old[j].k, old[j].slot, old[j].obj)
        PyMem_Free(old)
        return 0

    cdef inline Py_ssize_t table_slot(self, int64_t k, object key, bint create) except -2:
        """Slot of ``key`` (hashed to ``k``; an int64 is its own hash), created if asked, or -1."""
        cdef Py_ssize_t mask = self.tcap - 1
        cdef Py_ssize_t j = self.table_home(k)
        cdef Py_ssize_t tomb = -1
        cdef Py_ssize_t s
        cdef bint by_str = self.mode == M_STR
        cdef Cell* cell
        while True:
            cell = &self.cells[j]
            if cell.slot == EMPTY:
                break
            if cell.slot == TOMB:
                if tomb < 0:
                    tomb = j
            elif cell.k == k and (
                not by_str or cell.obj == <PyObject*>key or str_eq(cell.obj, <PyObject*>key)
            ):
                return cell.slot
            j = (j + 1) & mask
        if not create:
            return -1
        s = self.new_slot(key)
        if tomb >= 0:
            j = tomb
        else:
            self.tfill += 1
        cell = &self.cells[j]
        cell.k = k
        cell.slot = s
        cell.obj = <PyObject*>key
        if self.tfill * 2 > self.tcap:
            self.table_rebuild()
        return s

    cdef Py_ssize_t table_cell_of(self, int64_t k, Py_ssize_t s) noexcept:
        """Cell holding slot ``s`` (whose key hashes to ``k``), or -1."""
        cdef Py_ssize_t mask = self.tcap - 1
        cdef Py_ssize_t j = self.table_home(k)
        while self.cells[j].slot != EMPTY:
            if self.cells[j].slot == s:
                return j
            j = (j + 1) & mask
        return -1

    cdef int64_t table_key(self, object key) except? -1:
        """The table hash of a key already in the table."""
        if self.mode == M_INT:
            return <int64_t>key
        return PyObject_Hash(key)

    cdef int to_dict_mode(self) except -1:
        """Switch to the dict index for good: a key of another type may equal one we hold."""
        cdef dict index = {}
        cdef Py_ssize_t s
        for s in range(self.size):
            if self.accs[s].tag != T_DEAD:
                index[self.keys[s]] = s
        self.index = index
        self.mode = M_DICT
        PyMem_Free(self.cells)
        self.cells = NULL
        self.tcap = 0
        return 0

    cdef Py_ssize_t new_slot(self, object key) except -1:
        """Append a slot for a first-seen key, initialised for the reducer."""
        cdef Py_ssize_t cap
        cdef Acc* accs
        cdef Acc* a
        if self.size == self.cap:
            cap = self.cap * 2 if self.cap else 16
            accs = <Acc*>PyMem_Realloc(self.accs, cap * sizeof(Acc))
            if accs == NULL:
                raise MemoryError()
            self.accs = accs
            self.cap = cap
        self.keys.append(key)
        self.objs.append(None)
        a = &self.accs[self.size]
        a.i = 0
        a.f = 0.0
        a.n = 0
        a.r = 0
        a.tag = T_INT if self.code in (R_SUM, R_COUNT, R_MEAN) else T_UNSET
        self.size += 1
        self.live += 1
        return self.size - 1

    cdef Py_ssize_t slot_for(self, object key) except -1:
        """Find or create the slot of ``key``."""
        cdef int overflow = 0
        cdef long long x
        cdef PyObject* found
        cdef Py_ssize_t s
        cdef int mode = self.mode
        if mode == M_STR or (mode == M_NEW and PyUnicode_CheckExact(key)):
            if PyUnicode_CheckExact(key):
                self.mode = M_STR
                return self.table_slot(PyObject_Hash(key), key, True)
        elif mode == M_INT or mode == M_NEW:
            if PyLong_CheckExact(key):
                x = PyLong_AsLongLongAndOverflow(key, &overflow)
                if overflow == 0:
                    self.mode = M_INT
                    return self.table_slot(x, key, True)
        if mode != M_DICT:
            self.to_dict_mode()
        found = PyDict_GetItemWithError(self.index, key)
        if found != NULL:
            return <Py_ssize_t><object>found
        s = self.new_slot(key)
        self.index[key] = s
        return s

    cdef Py_ssize_t find(self, object key) except -2:
        """Slot of ``key``, or -1."""
        cdef int overflow = 0
        cdef long long x
        cdef PyObject* found
        cdef int mode = self.mode
        if mode == M_NEW:
            return -1
        if mode == M_STR:
            if PyUnicode_CheckExact(key):
                return self.table_slot(PyObject_Hash(key), key, False)
        elif mode == M_INT:
            if PyLong_CheckExact(key):
                x = PyLong_AsLongLongAndOverflow(key, &overflow)
                if overflow == 0:
                    return self.table_slot(x, key, False)
        if mode != M_DICT:
            self.to_dict_mode()
        found = PyDict_GetItemWithError(self.index, key)
        return -1 if found == NULL else <Py_ssize_t><object>found

    cdef int discard(self, Py_ssize_t s) except -1:
        """Forget the key of slot ``s``; compact once most slots are dead."""
        cdef object key = self.keys[s]
        cdef Py_ssize_t cell
        if self.mode == M_DICT:
            del self.index[key]
        else:
            cell = self.table_cell_of(self.table_key(key), s)
            if cell >= 0:
                self.cells[cell].slot = TOMB
        self.keys[s] = None
        self.objs[s] = None
        self.accs[s].tag = T_DEAD
        self.live -= 1
        if self.size >= 64 and self.live * 2 < self.size:
            self.compact()
        return 0

    cdef int compact(self) except -1:
        """Squeeze out dead slots (keeping key order) and rebuild the index."""
        cdef Py_ssize_t s, j = 0
        for s in range(self.size):
            if self.accs[s].tag == T_DEAD:
                continue
            self.accs[j] = self.accs[s]
            self.keys[j] = self.keys[s]
            self.objs[j] = self.objs[s]
            j += 1
        del self.keys[j:]
        del self.objs[j:]
        self.size = j
        if self.mode == M_DICT:
            self.index = {self.keys[s]: s for s in range(self.size)}
        else:
            self.table_alloc(self.table_size())
            for s in range(self.size):
                key = self.keys[s]
                self.table_put(self.table_key(key), s, <PyObject*>key)
        return 0

    # -- accumulators -----------------------------------------------------------

    cdef object acc_obj(self, Py_ssize_t s):
        """The accumulator of slot ``s`` as a Python object."""
        cdef int tag = self.accs[s].tag
        if tag == T_INT:
            return self.accs[s].i
        if tag == T_FLOAT:
            return self.accs[s].f
        if tag == T_OBJ:
            return self.objs[s]
        return None

    cdef int set_obj(self, Py_ssize_t s, object res) except -1:
        """Store a Python-computed accumulator, back in C when it is an int64 or float."""
        cdef Acc* a = &self.accs[s]
        cdef int overflow = 0
        cdef long long x
        cdef int tag = T_OBJ
        if PyFloat_CheckExact(res):
            a.f = PyFloat_AS_DOUBLE(res)
            tag = T_FLOAT
        elif PyLong_CheckExact(res):
            x = PyLong_AsLongLongAndOverflow(res, &overflow)
            if overflow == 0:
                a.i = x
                tag = T_INT
        if tag == T_OBJ:
            self.objs[s] = res
        elif a.tag == T_OBJ:
            self.objs[s] = None
        a.tag = tag
        return 0

    cdef int set_val(self, Py_ssize_t s, Val* v) except -1:
        """Replace the accumulator by a value (min/max)."""
        cdef Acc* a = &self.accs[s]
        if v.tag == T_OBJ:
            self.objs[s] = <object>v.o
        elif a.tag == T_OBJ:
            self.objs[s] = None
        a.tag = v.tag
        a.i = v.i
        a.f = v.f
        return 0

    cdef int add_value(self, Py_ssize_t s, Val* v, bint skip_none) except -1:
        """acc = acc + v, in C when both are int64 (no overflow) or float."""
        cdef Acc* a = &self.accs[s]
        if v.tag == T_UNSET and skip_none:
            return 0
        if a.tag == T_INT:
            if v.tag == T_INT:
                if not add_overflows(a.i, v.i):
                    a.i += v.i
                    return 0
            elif v.tag == T_FLOAT:
                a.f = <double>a.i + v.f
                a.tag = T_FLOAT
                return 0
        elif a.tag == T_FLOAT:
            if v.tag == T_FLOAT:
                a.f = a.f + v.f
                return 0
            if v.tag == T_INT:
                a.f = a.f + <double>v.i
                return 0
        return self.set_obj(s, self.acc_obj(s) + val_obj(v))

    cdef int remove_value(self, Py_ssize_t s, Val* v) except -1:
        """acc = acc - v: the inverse of add_value, for expiring window panes."""
        cdef Acc* a = &self.accs[s]
        if a.tag == T_INT:
            if v.tag == T_INT:
                if not sub_overflows(a.i, v.i):
                    a.i -= v.i
                    return 0
            elif v.tag == T_FLOAT:
                a.f = <double>a.i - v.f
                a.tag = T_FLOAT
                return 0
        elif a.tag == T_FLOAT:
            if v.tag == T_FLOAT:
                a.f = a.f - v.f
                return 0
            if v.tag == T_INT:
                a.f = a.f - <double>v.i
                return 0
        return self.set_obj(s, self.acc_obj(s) - val_obj(v))

    cdef int calc_extreme(self, Py_ssize_t s, Val* v, bint is_max) except -1:
        """min/max step: None skipped, NaN absorbing, ties keep the first value."""
        cdef Acc* a = &self.accs[s]
        cdef bint better
        if v.tag == T_UNSET:
            return 0
        if a.tag == T_FLOAT:
            if isnan(a.f):
                return 0
        elif a.tag == T_OBJ:
            if is_nan_obj(self.objs[s]):
                return 0
        if a.tag == T_UNSET:
            better = True
        elif v.tag == T_FLOAT and isnan(v.f):
            better = True
        elif v.tag == T_FLOAT and a.tag == T_FLOAT:
            better = v.f > a.f if is_max else v.f < a.f
        elif v.tag == T_INT and a.tag == T_INT:
            better = v.i > a.i if is_max else v.i < a.i
        elif v.tag == T_OBJ and is_nan_obj(<object>v.o):
            better = True
        else:
            better = PyObject_RichCompareBool(val_obj(v), self.acc_obj(s), Py_GT if is_max else Py_LT)
        if better:
            self.set_val(s, v)
        return 0

    cdef int call_value(self, Py_ssize_t s, object value) except -1:
        """Callable reducer step: the first value starts the fold."""
        if self.accs[s].tag == T_UNSET:
            self.objs[s] = value
            self.accs[s].tag = T_OBJ
        else:
            self.objs[s] = self.fn(self.objs[s], value)
        return 0

    cdef int fold_value(self, Py_ssize_t s, Val* v) except -1:
        """Fold one raw record value (or, for count, the record) into slot ``s``."""
        cdef int code = self.code
        if code == R_SUM:
            self.add_value(s, v, True)
        elif code == R_COUNT:
            if self.accs[s].tag == T_INT and self.accs[s].i < INT64_MAX:
                self.accs[s].i += 1
            else:
                self.set_obj(s, self.acc_obj(s) + 1)
        elif code == R_MEAN:
            self.add_value(s, v, True)
            if v.tag != T_UNSET:
                self.accs[s].n += 1
        elif code == R_CALL:
            self.call_value(s, <object>v.o)
        else:
            self.calc_extreme(s, v, code == R_MAX)
        self.accs[s].r += 1
        return 0

    cdef int fold_partial(self, Py_ssize_t s, Val* v, int64_t count) except -1:
        """Merge a partial (tagged; ``count`` is mean's non-None count) into slot ``s``."""
        cdef int code = self.code
        if code == R_SUM or code == R_MEAN:
            self.add_value(s, v, True)
            if code == R_MEAN:
                self.accs[s].n += count
        elif code == R_COUNT:
            self.add_value(s, v, False)
        elif code == R_CALL:
            self.call_value(s, <object>v.o)
        else:
            self.calc_extreme(s, v, code == R_MAX)
        return 0

    cdef int merge_one(self, Py_ssize_t s, object part) except -1:
        """Merge one partial as produced by ``partials()`` into slot ``s``."""
        cdef Val v
        cdef int64_t count = 0
        cdef object total = part
        if self.code == R_MEAN:
            total, n = part
            count = n
        classify(total, &v)
        return self.fold_partial(s, &v, count)

    cdef object partial(self, Py_ssize_t s):
        """Mergeable partial of slot ``s``: ``(sum, count)`` for mean."""
        if self.code == R_MEAN:
            return (self.acc_obj(s), self.accs[s].n)
        return self.acc_obj(s)

    cdef object finalize(self, Py_ssize_t s):
        """Final value of slot ``s``: mean divides, as ``sum / count`` in Python."""
        cdef int64_t n
        if self.code == R_MEAN:
            n = self.accs[s].n
            return self.acc_obj(s) / n if n else None
        return self.acc_obj(s)

    # -- slot-to-slot merges for windows ---------------------------------------------

    cdef int merge_from(self, HashAgg other, bint with_values) except -1:
        """Merge every key of ``other`` in (records always; values if asked)."""
        cdef Py_ssize_t t, s
        cdef Val v
        cdef object held
        for t in range(other.size):
            if other.accs[t].tag == T_DEAD:
                continue
            s = self.slot_for(other.keys[t])
            if with_values:
                held = other.objs[t]
                v.tag = other.accs[t].tag
                v.i = other.accs[t].i
                v.f = other.accs[t].f
                v.o = <PyObject*>held
                self.fold_partial(s, &v, other.accs[t].n)
            self.accs[s].r += other.accs[t].r
        return 0

    cdef int expire_from(self, HashAgg other, object inverse, bint with_values) except -1:
        """Take ``other``'s records (and values if asked) back out; drop keys left with none."""
        cdef Py_ssize_t t, s
        cdef Val v
        cdef object held
        for t in range(other.size):
            if other.accs[t].tag == T_DEAD:
                continue
            s = self.find(other.keys[t])
            if s < 0:
                raise RuntimeError("sliding window state is inconsistent: expired key not found")
            self.accs[s].r -= other.accs[t].r
            if self.accs[s].r <= 0:
                self.discard(s)
                continue
            if not with_values:
                continue
            held = other.objs[t]
            if self.code == R_CALL:
                self.objs[s] = inverse(self.objs[s], held)
                continue
            v.tag = other.accs[t].tag
            v.i = other.accs[t].i
            v.f = other.accs[t].f
            v.o = <PyObject*>held
            self.remove_value(s, &v)
            if self.code == R_MEAN:
                self.accs[s].n -= other.accs[t].n
        return 0

    cdef list entries(self, bint with_values):
        """``[(key, partial or None, records), ...]`` for window checkpoints."""
        cdef list out = []
        cdef Py_ssize_t s
        for s in range(self.size):
            if self.accs[s].tag != T_DEAD:
                out.append(
                    (self.keys[s], self.partial(s) if with_values else None, self.accs[s].r)
                )
        return out

    cdef int restore_entries(self, object entries, bint with_values) except -1:
        """Inverse of ``entries``."""
        cdef Py_ssize_t s
        for key, part, records in entries:
            s = self.slot_for(key)
            if with_values:
                self.merge_one(s, part)
            self.accs[s].r += <int64_t>records
        return 0

    # -- public API ---------------------------------------------------------------

    def add_pairs(self, pairs) -> None:
        """Fold raw ``(key, value)`` records into the aggregates."""
        cdef list items = pairs if PyList_CheckExact(pairs) else list(pairs)
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t s
        cdef object item, key, value
        cdef Val v
        while i < len(items):
            item = items[i]
            i += 1
            if PyTuple_CheckExact(item) and len(<tuple>item) == 2:
                key = (<tuple>item)[0]
                value = (<tuple>item)[1]
            else:
                key, value = item
            s = self.slot_for(key)
            classify(value, &v)
            self.fold_value(s, &v)

    def add_fields(self, records, key, value=None) -> None:
        """Fold ``(record[key], record[value])`` (value None: the record) for every record.

        ``key`` and ``value`` are field references (an int index or a str key),
        read here without a Python call per record; errors propagate.
        """
        cdef list items = records if PyList_CheckExact(records) else list(records)
        check_field(key, "key")
        check_field(value, "value")
        if key is None or isinstance(key, list) or isinstance(value, list):
            raise TypeError("add_fields: key must be a field reference, value one or None")
        cdef int kk = F_INDEX if isinstance(key, int) else F_KEY
        cdef int vk = F_RECORD if value is None else (F_INDEX if isinstance(value, int) else F_KEY)
        cdef Py_ssize_t ki = key if kk == F_INDEX else 0
        cdef Py_ssize_t vi = value if vk == F_INDEX else 0
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t s
        cdef object rec, k, v_obj
        cdef Val v
        while i < len(items):
            rec = items[i]
            i += 1
            k = read_field(rec, kk, ki, key, None, 0)
            v_obj = read_field(rec, vk, vi, value, None, 0)
            s = self.slot_for(k)
            classify(v_obj, &v)
            self.fold_value(s, &v)

    def merge_partials(self, partials) -> None:
        """Merge ``(key, partial)`` pairs from ``partials()`` of other aggregators."""
        cdef list items = partials if PyList_CheckExact(partials) else list(partials)
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t s
        cdef object item, key, part
        while i < len(items):
            item = items[i]
            i += 1
            if PyTuple_CheckExact(item) and len(<tuple>item) == 2:
                key = (<tuple>item)[0]
                part = (<tuple>item)[1]
            else:
                key, part = item
            s = self.slot_for(key)
            self.merge_one(s, part)
            self.accs[s].r += 1

    cdef list _pairs(self, bint final):
        """(key, partial or finalized value) for every live key, first-seen order."""
        cdef list out = []
        cdef Py_ssize_t s
        for s in range(self.size):
            if self.accs[s].tag != T_DEAD:
                out.append((self.keys[s], self.finalize(s) if final else self.partial(s)))
        return out

    def partials(self) -> list:
        """Mergeable per-key partials (``(sum, count)`` for mean), first-seen key order."""
        return self._pairs(False)

    def results(self) -> list:
        """Finalized per-key values, first-seen key order."""
        return self._pairs(True)

    def to_state(self) -> tuple:
        """Checkpoint as plain data: ``(version, partials)``."""
        return (STATE_VERSION, self.partials())

    @classmethod
    def from_state(cls, reducer, state) -> HashAgg:
        """Rebuild an aggregator from ``to_state()`` (the reducer is code, so not stored)."""
        cdef HashAgg agg = cls(reducer)
        agg.merge_partials(check_state(state, "HashAgg"))
        return agg


def combine(pairs, reducer) -> list:
    """Map-side combine: raw pairs in, mergeable partials out."""
    cdef HashAgg agg = HashAgg(reducer)
    agg.add_pairs(pairs)
    return agg.partials()


def merge(partial_lists, reducer) -> list:
    """Reduce-side merge: partial lists (e.g. one per partition) in, final values out."""
    cdef HashAgg agg = HashAgg(reducer)
    for partials in partial_lists:
        agg.merge_partials(partials)
    return agg.results()


def count_values(values) -> list:
    """``count_by_value``: occurrences of each distinct value, first-seen order."""
    cdef HashAgg agg = HashAgg("count")
    cdef list items = values if PyList_CheckExact(values) else list(values)
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t s
    cdef Acc* a
    while i < len(items):
        s = agg.slot_for(items[i])
        i += 1
        a = &agg.accs[s]
        if a.tag == T_INT and a.i < INT64_MAX:
            a.i += 1
        else:
            agg.set_obj(s, agg.acc_obj(s) + 1)
    return agg.results()
