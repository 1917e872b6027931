# cython: language_level=3
# C-level prototypes of keytable_c: KeyTable, the slot storage under hashagg_c.HashAgg
# (its base class), so that HashAgg, window_c, sliding_c and session_table_c reach keys,
# slots and accumulator cells in C. Its methods are final: calls inside keytable_c
# are direct C calls, as they were when this code lived in the final HashAgg.

cimport cython
from libc.stdint cimport int64_t

from etlcore._fast.inttable cimport IntTable

from etlcore._fast.values cimport Acc

# key index modes
cdef enum:
    M_NEW = 0   # no key yet
    M_INT = 1   # every key an exact int64: C table, the int is its own hash
    M_STR = 2   # every key an exact str: C table on the str's (cached) hash
    M_DICT = 3  # anything else: a dict, so Python equality applies (1 == 1.0)


cdef class KeyTable:
    cdef Acc* accs
    cdef Py_ssize_t size   # slots in use, dead ones included
    cdef Py_ssize_t cap
    cdef Py_ssize_t live   # keys
    cdef list keys         # slot -> key object (first seen); empty in M_INT (see key_at)
    cdef list objs         # slot -> accumulator object when tag is T_OBJ; None until one is
    cdef int64_t* ikeys    # slot -> the int64 key (M_INT) or the str key's hash (M_STR)
    cdef int fresh_tag     # a new slot's accumulator tag (set by the owner: HashAgg)
    # C key index while mode is M_INT or M_STR: inttable.pxd, 8-byte cells over ikeys
    cdef int mode
    cdef IntTable table
    # generic key index in M_DICT: key -> slot
    cdef dict index

    # key index
    @cython.final
    cdef int grow(self, Py_ssize_t cap) except -1
    @cython.final
    cdef int reserve(self, Py_ssize_t n) except -1
    @cython.final
    cdef object key_at(self, Py_ssize_t s)
    @cython.final
    cdef Py_ssize_t slot_for_int(self, int64_t x) except -1
    @cython.final
    cdef Py_ssize_t str_slot(self, int64_t h, object key, bint create) except -2
    @cython.final
    cdef Py_ssize_t table_slot(self, int64_t k, object key, bint create) except -2
    @cython.final
    cdef int to_dict_mode(self) except -1
    @cython.final
    cdef int init_slot(self, Py_ssize_t s) except -1
    @cython.final
    cdef Py_ssize_t slot_for(self, object key) except -1
    @cython.final
    cdef Py_ssize_t find(self, object key) except -2
    @cython.final
    cdef int discard(self, Py_ssize_t s) except -1
    @cython.final
    cdef int compact(self) except -1
    # Python accumulators
    @cython.final
    cdef object obj_at(self, Py_ssize_t s)
    @cython.final
    cdef int put_obj(self, Py_ssize_t s, object o) except -1
