# cython: language_level=3
# C-level prototypes of session_table_c, cimported by session_c: SessionStore is a
# SessionTable that also reads batches and emits rows, and reads the slots directly.

from cpython.ref cimport PyObject
from libc.stdint cimport int64_t

from etlcore._fast.expiryheap cimport ExpiryHeap
from etlcore._fast.hashagg_c cimport HashAgg
from etlcore._fast.inttable cimport IntTable
from etlcore._fast.session_types cimport M_INT, Sess, Slot


cdef inline Py_ssize_t slot_stride() noexcept nogil:
    """int64s from one slot's ``ikey`` to the next's (a Slot holds int64s: a multiple of 8 B)."""
    return sizeof(Slot) // sizeof(int64_t)


cdef class SessionTable:
    cdef int64_t gap
    cdef object reducer
    cdef bint counting
    cdef HashAgg aggs
    cdef list keys           # slot -> key (None when free, and for every slot in M_INT mode)
    cdef Slot* slots
    cdef Py_ssize_t nslots
    cdef Py_ssize_t slots_cap
    cdef Py_ssize_t* free    # free slots (a stack)
    cdef Py_ssize_t nfree
    cdef Py_ssize_t free_cap
    cdef Py_ssize_t ndormant  # M_INT: finished keys whose slot and cell are kept for their return
    # key index: M_INT: the C table (int key -> slot); M_DICT: key -> slot
    cdef int mode
    cdef IntTable table
    cdef dict index
    cdef ExpiryHeap heap     # (first session's last + gap, slot), at most one live entry a key
    cdef int64_t next_seq
    cdef int64_t next_sid
    cdef int64_t stamp
    cdef Py_ssize_t open

    # keys
    cdef Py_ssize_t new_slot(self, object key) except -1
    cdef inline Py_ssize_t int_slot(self, int64_t k, PyObject* key) except -1
    cdef int free_dormant(self) except -1
    cdef int free_slot(self, Py_ssize_t slot) except -1
    cdef int to_dict_mode(self) except -1
    cdef Py_ssize_t dict_slot(self, object key) except -1
    cdef Py_ssize_t slot_of(self, object key) except -1
    cdef int release(self, Py_ssize_t slot) except -1

    cdef inline const int64_t* ikeys(self) noexcept:
        """The slots' int keys as the C table reads them: ``ikeys()[slot * slot_stride()]``."""
        return &self.slots[0].ikey if self.slots != NULL else NULL

    cdef inline object key_of(self, Py_ssize_t slot):
        """The slot's key; an int key is made afresh (holding the first one seen would cost a
        cache miss per row on an object allocated long ago)."""
        if self.mode == M_INT:
            return self.slots[slot].ikey
        return self.keys[slot]

    # sessions: join, bridge (merge), start; aggregates by session id
    cdef Sess* insert(self, Py_ssize_t slot, Py_ssize_t at, int64_t t) except NULL
    cdef inline Py_ssize_t agg_slot(self, int64_t sid) except -2
    cdef int fold(self, Sess* s, PyObject* value) except -1
    cdef int absorb(self, Sess* into, Sess* other) except -1
    cdef object value(self, Sess* s)
    cdef object partial(self, Sess* s)
    cdef int add(self, Py_ssize_t slot, int64_t t, PyObject* value) except -1
    cdef Py_ssize_t fold_events(self, Py_ssize_t n, const int64_t* times,
                                const int64_t* ikeys, PyObject** keys, PyObject** vals,
                                bint need_dict, Py_ssize_t* touched) except -1

    # expiry by watermark
    cdef int schedule(self, Py_ssize_t slot) except -1
    cdef Py_ssize_t next_due(self, int64_t wm) except -2
    cdef int drop_first(self, Py_ssize_t slot, Py_ssize_t m) except -1

    cdef inline Py_ssize_t nfinal(self, Py_ssize_t slot, int64_t wm) noexcept:
        """How many of the slot's first sessions the watermark ``wm`` has finished."""
        cdef Slot* k = &self.slots[slot]
        cdef Py_ssize_t m = 0
        while m < k.n and k.s[m].last + self.gap <= wm:
            m += 1
        return m
