# cython: language_level=3
# Result rows built in C: tuple subclasses (WindowResult, SessionResult) and the lists
# that hold them (window_c, session_c). Everything here is inline or a C helper:
# cimporting needs no module at run time.

from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_SET_ITEM

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
