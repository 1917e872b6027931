# cython: language_level=3
"""A window's aggregate for one key as one 64-byte object, not a tuple of three.

At a million keys nearly every record of a window becomes a result row, and the
job keeps them: a ``WindowResult`` NamedTuple is three fresh allocations (80 B
tuple, 32 B key int, 32 B float), and its fresh pages' faults were the largest
part of what grows with the keys. ``WindowRow`` keeps an int64 key and a float
value unboxed (boxed again on access) and the bounds as doubles, in one 64 B
block with no GC header. It behaves as the NamedTuple did - fields by name and
by index, ``len``, unpacking, ``==``/``hash``/ordering equal to the plain tuple,
``repr``, pickling, ``_fields``/``_asdict``/``_replace`` - except that it is no
``tuple`` instance. Its pure-Python twin is ``winrow_ref.WindowRow``.

Not yet the public ``WindowResult``: ``PaneStore.rows`` and ``rows`` emit it only
when asked for it by class (``benchmarks/w2_parts.py --rows compact``). Making it
the default needs every consumer that tests ``isinstance(r, tuple)`` or encodes
rows (JSON with ``default=str``, orjson, msgspec, Arrow, the sinks' ``flatten``)
to take it; ``benchmarks/README.md`` lists them.
"""

from cpython.float cimport PyFloat_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.list cimport PyList_SET_ITEM
from cpython.object cimport PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF, PyObject
from libc.stdint cimport int64_t
from libc.string cimport memcpy

from etlcore._fast.hashagg_c cimport T_DEAD, T_FLOAT, T_INT, HashAgg
from etlcore._fast.keytable_c cimport M_INT
from etlcore._fast.rows cimport etl_list_alloc

from etlcore._fast._common import MEAN

__all__ = ["FIELDS", "WindowRow"]

FIELDS = ("key", "window_start", "window_end", "value")

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1
    void* PyObject_Malloc(size_t n)
    PyObject* PyObject_Init(PyObject* op, PyTypeObject* tp)


cdef inline PyObject* hold(object o):
    Py_INCREF(o)
    return <PyObject*>o


cdef int set_key(WindowRow row, object key) except -1:
    cdef int overflow = 1
    cdef long long k = 0
    if PyLong_CheckExact(key):
        k = PyLong_AsLongLongAndOverflow(key, &overflow)
    if overflow:
        row.kobj = hold(key)
    else:
        row.ikey = k
    return 0


cdef int R_MEAN = MEAN  # the reducer whose final value is not its accumulator
cdef PyObject* INT_VALUE = <PyObject*>int  # vobj marking an int64 value in fval's bits


cdef inline void put_int(WindowRow row, int64_t i) noexcept:
    memcpy(&row.fval, &i, sizeof(i))  # no aliasing cast: the bits, copied
    row.vobj = INT_VALUE


cdef inline int64_t get_int(WindowRow row) noexcept:
    cdef int64_t i
    memcpy(&i, &row.fval, sizeof(i))
    return i


cdef int set_value(WindowRow row, object value) except -1:
    cdef int overflow = 1
    cdef long long i = 0
    if PyFloat_CheckExact(value):
        row.fval = <double>value
        return 0
    if PyLong_CheckExact(value):
        i = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        row.vobj = hold(value)
    else:
        put_int(row, i)
    return 0


cdef inline WindowRow new_row():
    """An empty row, made as ``tp_alloc`` makes one but without its zeroing or the calls
    of ``tp_new`` around it: at a million keys a window emits nearly a million rows.
    (``WindowRow`` is final, holds no Python object field and has no vtable, so its
    ``tp_new`` does nothing more; its ``tp_dealloc`` frees what this allocates.)"""
    cdef PyObject* p = <PyObject*>PyObject_Malloc(ROW_SIZE)
    if p == NULL:
        raise MemoryError()
    PyObject_Init(p, <PyTypeObject*>WindowRow)
    cdef WindowRow row = <WindowRow>p  # a second reference: give back the first
    Py_DECREF(row)
    row.kobj = NULL
    row.vobj = NULL
    return row


cdef WindowRow row_of(object key, double start, double end, object value):
    """A row built in C (``window_c`` emits with it)."""
    cdef WindowRow row = new_row()
    set_key(row, key)
    set_value(row, value)
    row.start = start
    row.end = end
    return row


cdef tuple as_tuple(WindowRow row):
    """The plain tuple equal to ``row``."""
    return (row.key, row.start, row.end, row.value)


cdef WindowRow int_row(int64_t key, double start, double end, int tag, int64_t i, double f):
    """A row of an int64 key and an unboxed value: an int64 ``i`` (tag 1) or float ``f``."""
    cdef WindowRow row = new_row()
    row.ikey = key
    row.start = start
    row.end = end
    if tag == 1:
        put_int(row, i)
    else:
        row.fval = f
    return row


cdef object compact_rows(HashAgg agg, object into, double start, double end):
    """``agg``'s rows as compact ``WindowRow``s (one 64 B object each) in a new ``into``:
    int64 keys and int64/float accumulators go in unboxed, anything else through
    ``key_at``/``finalize`` as the tuple rows get them."""
    cdef object out = etl_list_alloc(into, agg.live)
    cdef object row
    cdef Py_ssize_t s, j = 0
    cdef int tag
    cdef bint direct = agg.mode == M_INT and agg.code != R_MEAN  # the final value is the acc
    for s in range(agg.size):
        tag = agg.accs[s].tag
        if tag == T_DEAD:
            continue
        if direct and (tag == T_INT or tag == T_FLOAT):
            row = int_row(agg.ikeys[s], start, end, tag == T_INT, agg.accs[s].i, agg.accs[s].f)
        else:
            row = row_of(agg.key_at(s), start, end, agg.finalize(s))
        Py_INCREF(row)  # PyList_SET_ITEM steals a reference
        PyList_SET_ITEM(out, j, row)
        j += 1
    return out


def _rebuild(key, window_start, window_end, value):
    """Unpickle: the row type the reading process selected (compiled or pure)."""
    from etlcore.eventtime.base import WindowResult
    return WindowResult(key, window_start, window_end, value)


cdef class WindowRow:
    """One tumbling or sliding window's aggregate for one key: ``(key, window_start,
    window_end, value)``, a tuple in all but ``isinstance``."""

    _fields = FIELDS
    _field_defaults = {}
    __match_args__ = FIELDS

    def __init__(self, key, window_start, window_end, value):
        if self.kobj != NULL or self.vobj != NULL or self.ikey or self.start or self.end:
            raise TypeError("WindowResult is immutable: use _replace()")
        self.start = window_start
        self.end = window_end
        set_key(self, key)
        set_value(self, value)

    def __dealloc__(self):
        Py_XDECREF(self.kobj)
        if self.vobj != INT_VALUE:
            Py_XDECREF(self.vobj)

    @property
    def key(self):
        return <object>self.kobj if self.kobj != NULL else self.ikey

    @property
    def window_start(self):
        return self.start

    @property
    def window_end(self):
        return self.end

    @property
    def value(self):
        if self.vobj == NULL:
            return self.fval
        if self.vobj == INT_VALUE:
            return get_int(self)
        return <object>self.vobj

    def __len__(self):
        return 4

    def __getitem__(self, i):
        if isinstance(i, slice):
            return as_tuple(self)[i]
        cdef Py_ssize_t j = i
        if j < 0:
            j += 4
        if j == 0:
            return self.key
        if j == 1:
            return self.start
        if j == 2:
            return self.end
        if j == 3:
            return self.value
        raise IndexError("tuple index out of range")

    def __iter__(self):
        return iter(as_tuple(self))

    def __contains__(self, item):
        return item in as_tuple(self)

    def __richcmp__(self, other, int op):
        if isinstance(other, WindowRow):
            other = as_tuple(<WindowRow>other)
        elif not isinstance(other, tuple):
            return NotImplemented
        mine = as_tuple(self)
        if op == 0:
            return mine < other
        if op == 1:
            return mine <= other
        if op == 2:
            return mine == other
        if op == 3:
            return mine != other
        if op == 4:
            return mine > other
        return mine >= other

    def __hash__(self):
        return hash(as_tuple(self))

    def __repr__(self):
        return (f"WindowResult(key={self.key!r}, window_start={self.start!r}, "
                f"window_end={self.end!r}, value={self.value!r})")

    def __reduce__(self):
        return (_rebuild, as_tuple(self))

    def __getnewargs__(self):
        return as_tuple(self)

    def __add__(self, other):
        if not isinstance(other, (tuple, WindowRow)):
            return NotImplemented
        return as_tuple(self) + tuple(other)

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return other + as_tuple(self)

    def count(self, value):
        return as_tuple(self).count(value)

    def index(self, value, *args):
        return as_tuple(self).index(value, *args)

    def _asdict(self):
        """``{field: value}`` as NamedTuple's ``_asdict``."""
        return dict(zip(FIELDS, as_tuple(self)))

    def _replace(self, **changes):
        """A new row with some fields changed, as NamedTuple's ``_replace``."""
        values = self._asdict()
        for name, value in changes.items():
            if name not in values:
                raise ValueError(f"Got unexpected field names: {[name]!r}")
            values[name] = value
        return type(self)(**values)

    @classmethod
    def _make(cls, iterable):
        """A row from an iterable of four items, as NamedTuple's ``_make``."""
        items = tuple(iterable)
        if len(items) != 4:
            raise TypeError(f"Expected 4 arguments, got {len(items)}")
        return cls(*items)


cdef size_t ROW_SIZE = (<PyTypeObject*>WindowRow).tp_basicsize  # new_row's block: 64 B
