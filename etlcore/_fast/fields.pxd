# cython: language_level=3
# Field references: how a kernel reads one field of a record (hashagg_c's add_fields,
# window_c, session_c). Everything here is inline: cimporting needs no module at run time.

from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE

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
