# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled combine-by-key: the interface and results of ``hashagg_ref``, in C.

Each key owns a slot with a tagged accumulator (``values.pxd``: int64 and float
arithmetic in C, anything else, or an int64 overflow, in Python with the
reference's operations and order, so results are equal bit for bit). The keys and
slots are ``keytable_c.KeyTable``'s, HashAgg's base class (int64 and str keys in a
C table, anything else in a dict); this module holds the reducer's folds
(sum/count/min/max/mean/callable), the field references read in C and the public
API. Sliding windows' expiry lives in ``sliding_c``.
"""

cimport cython
from cpython.list cimport PyList_CheckExact
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_CheckExact
from libc.stdint cimport INT64_MAX, int64_t

from etlcore._fast.fields cimport F_INDEX, F_KEY, F_RECORD, read_field
from etlcore._fast.values cimport acc_add, acc_sub, number_tag, replaces, val_obj

from etlcore._fast import _common
from etlcore._fast._common import STATE_VERSION, check_field, check_state, reducer_code

__all__ = ["HashAgg", "combine", "count_values", "merge", "merge_columns"]

# reducer codes, checked against _common below
cdef enum:
    R_SUM = 0
    R_COUNT = 1
    R_MIN = 2
    R_MAX = 3
    R_MEAN = 4
    R_CALL = 5

if (_common.SUM, _common.COUNT, _common.MIN, _common.MAX, _common.MEAN, _common.CALL) != (
    R_SUM, R_COUNT, R_MIN, R_MAX, R_MEAN, R_CALL
):
    raise ImportError("etlcore._fast.hashagg_c is out of date with _common: rebuild it")


# ---------------------------------------------------------------- HashAgg


@cython.final
cdef class HashAgg(KeyTable):
    """Per-key running aggregates for one reducer (map-side combine and reduce-side merge)."""

    def __cinit__(self, reducer):
        self.code = reducer_code(reducer)
        self.fn = reducer if self.code == R_CALL else None
        self.fresh_tag = T_INT if self.code in (R_SUM, R_COUNT, R_MEAN) else T_UNSET

    def __len__(self):
        return self.live

    def __repr__(self):
        name = self.fn if self.code == R_CALL else ("sum", "count", "min", "max", "mean")[self.code]
        return f"HashAgg({name!r}, keys={self.live})"

    # -- accumulators -----------------------------------------------------------

    cdef object acc_obj(self, Py_ssize_t s):
        """The accumulator of slot ``s`` as a Python object."""
        cdef int tag = self.accs[s].tag
        if tag == T_INT:
            return self.accs[s].i
        if tag == T_FLOAT:
            return self.accs[s].f
        if tag == T_OBJ:
            return self.obj_at(s)
        return None

    cdef int set_obj(self, Py_ssize_t s, object res) except -1:
        """Store a Python-computed accumulator, back in C when it is an int64 or float."""
        cdef Acc* a = &self.accs[s]
        cdef int tag = number_tag(res, a)
        if tag == T_OBJ:
            self.put_obj(s, res)
        elif a.tag == T_OBJ:
            self.put_obj(s, None)
        a.tag = tag
        return 0

    cdef int set_val(self, Py_ssize_t s, Val* v) except -1:
        """Replace the accumulator by a value (min/max)."""
        cdef Acc* a = &self.accs[s]
        if v.tag == T_OBJ:
            self.put_obj(s, <object>v.o)
        elif a.tag == T_OBJ:
            self.put_obj(s, None)
        a.tag = v.tag
        if v.tag == T_FLOAT:  # i and f share storage: copy the live one only
            a.f = v.f
        else:
            a.i = v.i
        return 0

    cdef int add_value(self, Py_ssize_t s, Val* v, bint skip_none) except -1:
        """acc = acc + v, in C when both are int64 (no overflow) or float."""
        if v.tag == T_UNSET and skip_none:
            return 0
        if acc_add(&self.accs[s], v):
            return 0
        return self.set_obj(s, self.acc_obj(s) + val_obj(v))

    cdef int remove_value(self, Py_ssize_t s, Val* v) except -1:
        """acc = acc - v: the inverse of add_value, for expiring window panes."""
        if acc_sub(&self.accs[s], v):
            return 0
        return self.set_obj(s, self.acc_obj(s) - val_obj(v))

    cdef int calc_extreme(self, Py_ssize_t s, Val* v, bint is_max) except -1:
        """min/max step (``values.replaces``): None skipped, NaN absorbing, ties keep the first."""
        if replaces(&self.accs[s], v, is_max, self.obj_at(s)):
            self.set_val(s, v)
        return 0

    cdef int call_value(self, Py_ssize_t s, object value) except -1:
        """Callable reducer step: the first value starts the fold."""
        if self.accs[s].tag == T_UNSET:
            self.put_obj(s, value)
            self.accs[s].tag = T_OBJ
        else:
            self.put_obj(s, self.fn(self.obj_at(s), value))
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
        cdef bint ints = other.mode == M_INT and (self.mode == M_INT or self.mode == M_NEW)
        for t in range(other.size):
            if other.accs[t].tag == T_DEAD:
                continue
            s = self.slot_for_int(other.ikeys[t]) if ints else self.slot_for(other.key_at(t))
            if with_values:
                held = other.obj_at(t)
                v.tag = other.accs[t].tag
                v.i = other.accs[t].i
                v.f = other.accs[t].f
                v.o = <PyObject*>held
                self.fold_partial(s, &v, other.accs[t].n)
            self.accs[s].r += other.accs[t].r
        return 0

    # -- public API ---------------------------------------------------------------

    def add_pairs(self, pairs) -> int:
        """Fold raw ``(key, value)`` records into the aggregates; ``pairs`` is any iterable,
        read once (a narrow chain's lazy output: no list of pairs is built). Returns how
        many pairs were read."""
        cdef Py_ssize_t n = 0
        cdef Py_ssize_t s
        cdef object item, key, value
        cdef Val v
        for item in pairs:
            if PyTuple_CheckExact(item) and len(<tuple>item) == 2:
                key = (<tuple>item)[0]
                value = (<tuple>item)[1]
            else:
                key, value = item
            s = self.slot_for(key)
            classify(value, &v)
            self.fold_value(s, &v)
            n += 1
        return n

    def count_each(self, values) -> int:
        """Count every value as one occurrence of itself (``count_by_value``'s fold, on an
        aggregator of ``"count"``). ``values`` is any iterable, read once: a narrow chain's
        lazy output is counted as it is made, so each value is freed right after it is
        counted instead of held in a list. Returns how many values were read."""
        if self.code != R_COUNT:
            raise ValueError("count_each needs an aggregator of 'count'")
        cdef Py_ssize_t n = 0
        cdef Py_ssize_t s
        cdef Acc* a
        cdef object value
        for value in values:
            s = self.slot_for(value)
            a = &self.accs[s]
            if a.tag == T_INT and a.i < INT64_MAX:
                a.i += 1
            else:
                self.set_obj(s, self.acc_obj(s) + 1)
            n += 1
        return n

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

    def merge_columns(self, keys, partials) -> None:
        """``merge_partials`` of ``zip(keys, partials)``: partials sent as two columns
        (``partial_columns`` of other aggregators), no tuple per key."""
        cdef list ks = keys if PyList_CheckExact(keys) else list(keys)
        cdef list ps = partials if PyList_CheckExact(partials) else list(partials)
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t s
        if len(ks) != len(ps):
            raise ValueError(f"merge_columns: {len(ks)} keys but {len(ps)} partials")
        while i < len(ks) and i < len(ps):
            s = self.slot_for(ks[i])
            self.merge_one(s, ps[i])
            self.accs[s].r += 1
            i += 1

    def partial_columns(self) -> tuple:
        """``partials()`` as ``(keys, partials)``, two lists in first-seen key order: what a
        map side sends (no tuple per key to make, marshal or take apart)."""
        cdef list keys
        cdef list parts = []
        cdef Py_ssize_t s
        if self.mode != M_INT and self.live == self.size:
            keys = list(self.keys)  # no dead slot: the key list as it is
            for s in range(self.size):
                parts.append(self.partial(s))
            return keys, parts
        keys = []
        for s in range(self.size):
            if self.accs[s].tag != T_DEAD:
                keys.append(self.key_at(s))
                parts.append(self.partial(s))
        return keys, parts

    cdef list _pairs(self, bint final):
        """(key, partial or finalized value) for every live key, first-seen order."""
        cdef list out = []
        cdef Py_ssize_t s
        for s in range(self.size):
            if self.accs[s].tag != T_DEAD:
                out.append((self.key_at(s), self.finalize(s) if final else self.partial(s)))
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


def merge_columns(blocks, reducer) -> list:
    """``merge`` of partials sent as ``(keys, partials)`` columns, one pair a block."""
    cdef HashAgg agg = HashAgg(reducer)
    for keys, partials in blocks:
        agg.merge_columns(keys, partials)
    return agg.results()


def count_values(values) -> list:
    """``count_by_value``: occurrences of each distinct value, first-seen order."""
    cdef HashAgg agg = HashAgg("count")
    agg.count_each(values)
    return agg.results()
