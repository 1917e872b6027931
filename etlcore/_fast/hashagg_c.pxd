# cython: language_level=3
# C-level prototypes of hashagg_c, cimported by window_c so that pane merges
# run slot to slot without building Python partial tuples.

cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

from etlcore._fast.inttable cimport IntTable

from etlcore._fast.values cimport T_DEAD, T_FLOAT, T_INT, T_OBJ, T_UNSET, Acc, Val, classify

# key index modes
cdef enum:
    M_NEW = 0   # no key yet
    M_INT = 1   # every key an exact int64: C table, the int is its own hash
    M_STR = 2   # every key an exact str: C table on the str's (cached) hash
    M_DICT = 3  # anything else: a dict, so Python equality applies (1 == 1.0)


@cython.final
cdef class HashAgg:
    cdef int code
    cdef object fn
    cdef Acc* accs
    cdef Py_ssize_t size   # slots in use, dead ones included
    cdef Py_ssize_t cap
    cdef Py_ssize_t live   # keys
    cdef list keys         # slot -> key object (first seen); empty in M_INT (see key_at)
    cdef list objs         # slot -> accumulator object when tag is T_OBJ; None until one is
    cdef int64_t* ikeys    # slot -> the int64 key (M_INT) or the str key's hash (M_STR)
    # C key index while mode is M_INT or M_STR: inttable.pxd, 16-byte cells
    cdef int mode
    cdef IntTable table
    # generic key index in M_DICT: key -> slot
    cdef dict index

    # key index
    cdef int grow(self, Py_ssize_t cap) except -1
    cdef int reserve(self, Py_ssize_t n) except -1
    cdef object key_at(self, Py_ssize_t s)
    cdef Py_ssize_t slot_for_int(self, int64_t x) except -1
    cdef Py_ssize_t str_slot(self, int64_t h, object key, bint create) except -2
    cdef Py_ssize_t table_slot(self, int64_t k, object key, bint create) except -2
    cdef int to_dict_mode(self) except -1
    cdef int init_slot(self, Py_ssize_t s) except -1
    cdef Py_ssize_t slot_for(self, object key) except -1
    cdef Py_ssize_t find(self, object key) except -2
    cdef int discard(self, Py_ssize_t s) except -1
    cdef int compact(self) except -1
    # accumulators
    cdef object obj_at(self, Py_ssize_t s)
    cdef int put_obj(self, Py_ssize_t s, object o) except -1
    cdef object acc_obj(self, Py_ssize_t s)
    cdef int set_obj(self, Py_ssize_t s, object res) except -1
    cdef int set_val(self, Py_ssize_t s, Val* v) except -1
    cdef int add_value(self, Py_ssize_t s, Val* v, bint skip_none) except -1
    cdef int remove_value(self, Py_ssize_t s, Val* v) except -1
    cdef int calc_extreme(self, Py_ssize_t s, Val* v, bint is_max) except -1
    cdef int call_value(self, Py_ssize_t s, object value) except -1
    cdef int fold_value(self, Py_ssize_t s, Val* v) except -1
    cdef int fold_partial(self, Py_ssize_t s, Val* v, int64_t count) except -1
    cdef int merge_one(self, Py_ssize_t s, object part) except -1
    cdef object partial(self, Py_ssize_t s)
    cdef object finalize(self, Py_ssize_t s)
    cdef list _pairs(self, bint final)
    # slot-to-slot merges for windows
    cdef int merge_from(self, HashAgg other, bint with_values) except -1


# -- field references: how a kernel reads one field of a record (shared by window_c) --
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_SET_ITEM

cdef enum:
    F_RECORD = 0  # the record itself (value=None)
    F_NONE = 1    # None for every record (key=None)
    F_INDEX = 2   # record[int]: tuples and lists read in C
    F_KEY = 3     # record[str]: dicts read in C
    F_LIST = 4    # a column computed beforehand (a callable's results)


cdef inline object read_field(object rec, int kind, Py_ssize_t idx, object ref, list col,
                              Py_ssize_t i):
    """``rec[ref]`` (tuple/list index and dict key in C), the precomputed ``col[i]``, or None."""
    cdef Py_ssize_t n, j
    cdef PyObject* got
    if kind == F_INDEX:
        if PyTuple_Check(rec):
            n = PyTuple_GET_SIZE(rec)
            j = idx + n if idx < 0 else idx
            if 0 <= j < n:
                return <object>PyTuple_GET_ITEM(rec, j)
        elif PyList_CheckExact(rec):
            n = PyList_GET_SIZE(rec)
            j = idx + n if idx < 0 else idx
            if 0 <= j < n:
                return <object>PyList_GET_ITEM(rec, j)
        return rec[ref]  # raises as Python does
    if kind == F_KEY:
        if PyDict_CheckExact(rec):
            got = PyDict_GetItemWithError(rec, ref)
            if got != NULL:
                return <object>got
        return rec[ref]
    if kind == F_LIST:
        return col[i]
    if kind == F_RECORD:
        return rec
    return None


# -- result rows: tuple subclasses (WindowResult, SessionResult) --
cdef extern from "Python.h":
    int PyObject_GC_IsTracked(object) noexcept
    void PyObject_GC_UnTrack(void*) noexcept

cdef extern from *:
    """
    /* A row of type cls (a tuple subclass) with n empty items, as tuple.__new__ makes it. */
    static PyObject* etl_row_alloc(PyObject* cls, Py_ssize_t n) {
        return ((PyTypeObject*)cls)->tp_alloc((PyTypeObject*)cls, n);
    }
    static int etl_row_class(PyObject* cls) {
        return PyType_Check(cls) && (PyTypeObject*)cls != &PyTuple_Type
            && PyType_IsSubtype((PyTypeObject*)cls, &PyTuple_Type);
    }
    """
    object etl_row_alloc(object cls, Py_ssize_t n)
    bint etl_row_class(object cls) noexcept

cdef extern from *:
    """
    /* cls's instances are a tuple's items and nothing else (no __dict__, no weakref
       slot): etl_row4_untracked sets every field such a row has. */
    static int etl_row_class_bare(PyObject* cls) {
        PyTypeObject* t = (PyTypeObject*)cls;
        return t->tp_basicsize == PyTuple_Type.tp_basicsize
            && t->tp_itemsize == PyTuple_Type.tp_itemsize
            && t->tp_dictoffset == 0 && t->tp_weaklistoffset == 0;
    }
    /* A row of cls (an etl_row_class_bare tuple subclass) holding a, b, c, d, never
       tracked by the cyclic GC: for items known to be untracked (exact ints and floats).
       It is allocated as PyObject_GC_NewVar does (no zeroing, no GC link) and filled at
       once, so it never exists with unset items; subtype_dealloc frees it as it frees a
       row from tp_alloc. */
    static PyObject* etl_row4_untracked(PyObject* cls, PyObject* a, PyObject* b,
                                        PyObject* c, PyObject* d) {
        PyTupleObject* row = (PyTupleObject*)_PyObject_GC_NewVar((PyTypeObject*)cls, 4);
        if (row == NULL)
            return NULL;
        Py_INCREF(a); row->ob_item[0] = a;
        Py_INCREF(b); row->ob_item[1] = b;
        Py_INCREF(c); row->ob_item[2] = c;
        Py_INCREF(d); row->ob_item[3] = d;
        return (PyObject*)row;
    }
    """
    bint etl_row_class_bare(object cls) noexcept
    object etl_row4_untracked(object cls, object a, object b, object c, object d)

cdef extern from *:
    """
    /* An instance of list type tp (list, or a subclass adding no fields: Records) with
       n empty items, as PyList_New makes a list: the caller sets every item before the
       list is seen. NULL with an exception for any other type. */
    static PyObject* etl_list_alloc(PyObject* tp, Py_ssize_t n) {
        PyTypeObject* t = (PyTypeObject*)tp;
        PyObject* out;
        PyObject** items;
        if (tp == (PyObject*)&PyList_Type)
            return PyList_New(n);
        if (!PyType_Check(tp) || !PyType_IsSubtype(t, &PyList_Type)
                || t->tp_basicsize != PyList_Type.tp_basicsize) {
            PyErr_Format(PyExc_TypeError, "rows: into must be list or a list subclass "
                         "without fields, not %R", tp);
            return NULL;
        }
        out = t->tp_alloc(t, 0);
        if (out == NULL || n == 0)
            return out;
        items = (PyObject**)PyMem_Calloc(n, sizeof(PyObject*));
        if (items == NULL) {
            Py_DECREF(out);
            return PyErr_NoMemory();
        }
        ((PyListObject*)out)->ob_item = items;
        ((PyListObject*)out)->allocated = n;
        Py_SET_SIZE(out, n);
        return out;
    }
    """
    object etl_list_alloc(object tp, Py_ssize_t n)


cdef inline object untrack_plain(object row, Py_ssize_t n):
    """Untrack a row holding only untracked objects (numbers, strs, flat tuples).

    Such a row cannot be part of a cycle; CPython untracks plain tuples the
    same way, so the results a job keeps do not lengthen every cyclic-GC pass.
    """
    cdef Py_ssize_t j
    for j in range(n):
        if PyObject_GC_IsTracked(<object>PyTuple_GET_ITEM(row, j)):
            return row
    if PyObject_GC_IsTracked(row):
        PyObject_GC_UnTrack(<void*>row)
    return row


cdef inline object make_row(object cls, tuple items):
    """``cls`` (a tuple subclass without a __dict__) holding ``items``, built in C."""
    cdef Py_ssize_t j, n = PyTuple_GET_SIZE(items)
    cdef object row
    cdef object item
    if not etl_row_class(cls):
        return untrack_plain(tuple.__new__(cls, items), n)
    row = etl_row_alloc(cls, n)
    for j in range(n):
        item = <object>PyTuple_GET_ITEM(items, j)
        Py_INCREF(item)
        PyTuple_SET_ITEM(row, j, item)
    return untrack_plain(row, n)


cdef inline object make_row4(object cls, object a, object b, object c, object d):
    """``make_row(cls, (a, b, c, d))`` in one pass: no items tuple in between.

    ``cls`` must pass ``etl_row_class`` (checked once by the caller).
    """
    cdef object row = etl_row_alloc(cls, 4)
    Py_INCREF(a)
    PyTuple_SET_ITEM(row, 0, a)
    Py_INCREF(b)
    PyTuple_SET_ITEM(row, 1, b)
    Py_INCREF(c)
    PyTuple_SET_ITEM(row, 2, c)
    Py_INCREF(d)
    PyTuple_SET_ITEM(row, 3, d)
    return untrack_plain(row, 4)
