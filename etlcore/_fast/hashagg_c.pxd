# cython: language_level=3
# C-level prototypes of hashagg_c, cimported by window_c, sliding_c and session_table_c
# so that pane merges run slot to slot without building Python partial tuples. The
# keys, slots and accumulator cells live in the base class (keytable_c.pxd); the
# tagged values come from values.pxd (re-exported here for the kernels above).

cimport cython
from libc.stdint cimport int64_t

from etlcore._fast.keytable_c cimport M_INT, M_NEW, KeyTable

from etlcore._fast.values cimport T_DEAD, T_FLOAT, T_INT, T_OBJ, T_UNSET, Acc, Val, classify


@cython.final
cdef class HashAgg(KeyTable):
    cdef int code
    cdef object fn

    # accumulators
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
