# cython: language_level=3
"""A window's aggregate for one key as one 48-byte object, not a tuple of three.

At a million keys nearly every record of a window becomes a result row, and the
job keeps them: a ``WindowResult`` NamedTuple is three fresh allocations (80 B
tuple, 32 B key int, 32 B float), and its fresh pages' faults were the largest
part of what grows with the keys. ``WindowRow`` keeps an int64 key and a float
value unboxed (boxed again on access) and the window's bounds as one ``Span``
shared by all its rows, in one 48 B block with no GC header. It behaves as the NamedTuple did - fields by name and
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
from libc.stdint cimport int64_t, intptr_t
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

# WindowRow.kind: how kbits and vbits are read
cdef enum:
    K_OBJ = 1     # kbits is a held key object's address (else the int64 key itself)
    V_INT = 2     # vbits is an int64 value
    V_OBJ = 4     # vbits is a held value object's address (neither: a float's bits)


cdef inline int64_t held(object o):
    Py_INCREF(o)
    return <int64_t><intptr_t><PyObject*>o


cdef inline object unheld(int64_t bits):
    return <object><PyObject*><intptr_t>bits


cdef inline int64_t float_bits(double f) noexcept:
    cdef int64_t i
    memcpy(&i, &f, sizeof(i))  # no aliasing cast: the bits, copied
    return i


cdef inline double bits_float(int64_t i) noexcept:
    cdef double f
    memcpy(&f, &i, sizeof(f))
    return f


cdef int set_key(WindowRow row, object key) except -1:
    cdef int overflow = 1
    cdef long long k = 0
    if PyLong_CheckExact(key):
        k = PyLong_AsLongLongAndOverflow(key, &overflow)
    if overflow:
        row.kbits = held(key)
        row.kind |= K_OBJ
    else:
        row.kbits = k
    return 0


cdef int R_MEAN = MEAN  # the reducer whose final value is not its accumulator


cdef int set_value(WindowRow row, object value) except -1:
    cdef int overflow = 1
    cdef long long i = 0
    if PyFloat_CheckExact(value):
        row.vbits = float_bits(<double>value)
        return 0
    if PyLong_CheckExact(value):
        i = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        row.vbits = held(value)
        row.kind |= V_OBJ
    else:
        row.vbits = i
        row.kind |= V_INT
    return 0


cdef Span span_of(double start, double end):
    """The bounds of a window, to be shared by all of its rows."""
    cdef Span span = Span.__new__(Span)
    span.start = start
    span.end = end
    return span


cdef Span ZERO = span_of(0.0, 0.0)  # a row made by ``__new__`` alone reads these bounds


cdef inline Span span_at(WindowRow row):
    return <Span>row.span if row.span != NULL else ZERO


cdef inline WindowRow new_row(Span span):
    """A row of ``span``'s window, made as ``tp_alloc`` makes one but without its zeroing or
    the calls of ``tp_new`` around it: at a million keys a window emits nearly a million
    rows. (``WindowRow`` is final, has no Python object field the GC sees and no vtable, so
    its ``tp_new`` does nothing more; its ``tp_dealloc`` frees what this allocates.)"""
    cdef PyObject* p = <PyObject*>PyObject_Malloc(ROW_SIZE)
    if p == NULL:
        raise MemoryError()
    PyObject_Init(p, <PyTypeObject*>WindowRow)
    cdef WindowRow row = <WindowRow>p  # a second reference: give back the first
    Py_DECREF(row)
    row.kind = 0
    Py_INCREF(span)
    row.span = <PyObject*>span
    return row


cdef WindowRow row_of(object key, Span span, object value):
    """A row built in C (``window_c`` emits with it)."""
    cdef WindowRow row = new_row(span)
    set_key(row, key)
    set_value(row, value)
    return row


cdef tuple as_tuple(WindowRow row):
    """The plain tuple equal to ``row``."""
    cdef Span span = span_at(row)
    return (row.key, span.start, span.end, row.value)


cdef WindowRow int_row(int64_t key, Span span, int tag, int64_t i, double f):
    """A row of an int64 key and an unboxed value: an int64 ``i`` (tag 1) or float ``f``."""
    cdef WindowRow row = new_row(span)
    row.kbits = key
    if tag == 1:
        row.vbits = i
        row.kind = V_INT
    else:
        row.vbits = float_bits(f)
    return row


cdef object compact_rows(HashAgg agg, object into, double start, double end):
    """``agg``'s rows as compact ``WindowRow``s (one 48 B object each, sharing one ``Span``)
    in a new ``into``: int64 keys and int64/float accumulators go in unboxed, anything else
    through ``key_at``/``finalize`` as the tuple rows get them."""
    cdef object out = etl_list_alloc(into, agg.live)
    cdef Span span = span_of(start, end)
    cdef object row
    cdef Py_ssize_t s, j = 0
    cdef int tag
    cdef bint direct = agg.mode == M_INT and agg.code != R_MEAN  # the final value is the acc
    for s in range(agg.size):
        tag = agg.accs[s].tag
        if tag == T_DEAD:
            continue
        if direct and (tag == T_INT or tag == T_FLOAT):
            row = int_row(agg.ikeys[s], span, tag == T_INT, agg.accs[s].i, agg.accs[s].f)
        else:
            row = row_of(agg.key_at(s), span, agg.finalize(s))
        Py_INCREF(row)  # PyList_SET_ITEM steals a reference
        PyList_SET_ITEM(out, j, row)
        j += 1
    return out


def _rebuild(key, window_start, window_end, value):
    """Unpickle: the row type the reading process selected (compiled or pure)."""
    from etlcore.eventtime.base import WindowResult
    return WindowResult(key, window_start, window_end, value)


cdef class Span:
    """A window's ``(start, end)``: one object for all of the window's rows, so that a row
    is 48 B, not 64 (the job's passes over a million rows touch a quarter less memory)."""


cdef class WindowRow:
    """One tumbling or sliding window's aggregate for one key: ``(key, window_start,
    window_end, value)``, a tuple in all but ``isinstance``."""

    _fields = FIELDS
    _field_defaults = {}
    __match_args__ = FIELDS

    def __init__(self, key, window_start, window_end, value):
        if self.span != NULL:
            raise TypeError("WindowResult is immutable: use _replace()")
        cdef Span span = span_of(window_start, window_end)
        Py_INCREF(span)
        self.span = <PyObject*>span
        set_key(self, key)
        set_value(self, value)

    def __dealloc__(self):
        if self.kind & K_OBJ:
            Py_XDECREF(<PyObject*><intptr_t>self.kbits)
        if self.kind & V_OBJ:
            Py_XDECREF(<PyObject*><intptr_t>self.vbits)
        Py_XDECREF(self.span)

    @property
    def key(self):
        return unheld(self.kbits) if self.kind & K_OBJ else self.kbits

    @property
    def window_start(self):
        return span_at(self).start

    @property
    def window_end(self):
        return span_at(self).end

    @property
    def value(self):
        if self.kind & V_OBJ:
            return unheld(self.vbits)
        if self.kind & V_INT:
            return self.vbits
        return bits_float(self.vbits)

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
            return span_at(self).start
        if j == 2:
            return span_at(self).end
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
        return (f"WindowResult(key={self.key!r}, window_start={self.window_start!r}, "
                f"window_end={self.window_end!r}, value={self.value!r})")

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


cdef size_t ROW_SIZE = (<PyTypeObject*>WindowRow).tp_basicsize  # new_row's block: 48 B
