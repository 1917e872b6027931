# cython: language_level=3
# Tagged values and accumulators in C, shared by the kernels (hashagg_c, window_c,
# sliding_c, session_c): exact ints that fit int64 and exact floats are held and
# added in C; anything else is a Python object the caller combines in Python,
# with the operations (and order) of the pure-Python references.

from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check, PyFloat_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.object cimport Py_GT, Py_LT, PyObject_RichCompareBool
from cpython.ref cimport PyObject
from libc.math cimport isnan
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t
from libc.string cimport memcmp

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object) noexcept
    int PyUnicode_KIND(object) noexcept
    void* PyUnicode_DATA(object) noexcept

# accumulator / value tags
cdef enum:
    T_UNSET = 0  # no value yet (as a value: None)
    T_INT = 1    # exact int that fits int64, in .i
    T_FLOAT = 2  # exact float, in .f
    T_OBJ = 3    # any other object, in HashAgg.objs[slot] (or Val.o)
    T_DEAD = 4   # slot of a discarded key


cdef extern from *:
    """
    /* One key's accumulator: 32 bytes, the int and float views sharing storage
       (the tag says which is live). */
    typedef struct {
        union { int64_t i; double f; };
        int64_t n;
        int64_t r;
        int tag;
    } etl_acc;
    """
    ctypedef struct Acc "etl_acc":
        int64_t i     # int accumulator (tag T_INT)
        double f      # float accumulator (tag T_FLOAT): the same 8 bytes as i
        int64_t n     # mean: number of non-None values
        int64_t r     # records folded in (sliding windows drop a key at 0)
        int tag


cdef struct Val:
    int tag
    int64_t i
    double f
    PyObject* o   # borrowed; the caller keeps the object alive


cdef inline void classify(object value, Val* v) noexcept:
    """Tag a raw value so the common numeric cases stay in C (shared by window_c)."""
    cdef int overflow = 0
    v.o = <PyObject*>value
    if PyFloat_CheckExact(value):
        v.tag = T_FLOAT
        v.f = PyFloat_AS_DOUBLE(value)
    elif PyLong_CheckExact(value):
        v.i = PyLong_AsLongLongAndOverflow(value, &overflow)
        v.tag = T_OBJ if overflow else T_INT
    elif value is None:
        v.tag = T_UNSET
    else:
        v.tag = T_OBJ


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


cdef inline bint acc_add(Acc* a, Val* v) noexcept nogil:
    """acc = acc + v when both are int64 (no overflow) or float; False: not done in C."""
    if a.tag == T_INT:
        if v.tag == T_INT:
            if not add_overflows(a.i, v.i):
                a.i += v.i
                return True
        elif v.tag == T_FLOAT:
            a.f = <double>a.i + v.f
            a.tag = T_FLOAT
            return True
    elif a.tag == T_FLOAT:
        if v.tag == T_FLOAT:
            a.f = a.f + v.f
            return True
        if v.tag == T_INT:
            a.f = a.f + <double>v.i
            return True
    return False


cdef inline bint acc_sub(Acc* a, Val* v) noexcept nogil:
    """acc = acc - v, the inverse of ``acc_add``; False: not done in C."""
    if a.tag == T_INT:
        if v.tag == T_INT:
            if not sub_overflows(a.i, v.i):
                a.i -= v.i
                return True
        elif v.tag == T_FLOAT:
            a.f = <double>a.i - v.f
            a.tag = T_FLOAT
            return True
    elif a.tag == T_FLOAT:
        if v.tag == T_FLOAT:
            a.f = a.f - v.f
            return True
        if v.tag == T_INT:
            a.f = a.f - <double>v.i
            return True
    return False


cdef inline int number_tag(object res, Acc* a) noexcept:
    """Store ``res`` in ``a`` if it is an exact float or an int that fits int64 (its tag,
    not set in ``a``); else T_OBJ, ``a`` untouched."""
    cdef int overflow = 0
    cdef long long x
    if PyFloat_CheckExact(res):
        a.f = PyFloat_AS_DOUBLE(res)
        return T_FLOAT
    if PyLong_CheckExact(res):
        x = PyLong_AsLongLongAndOverflow(res, &overflow)
        if overflow == 0:
            a.i = x
            return T_INT
    return T_OBJ


cdef inline int replaces(Acc* a, Val* v, bint is_max, object held) except -1:
    """min/max step: whether ``v`` replaces the accumulator (``held``: its object when
    T_OBJ). None is skipped, NaN absorbs, ties keep the first value."""
    cdef object acc
    if v.tag == T_UNSET:
        return False
    if a.tag == T_FLOAT:
        if isnan(a.f):
            return False
    elif a.tag == T_OBJ:
        if is_nan_obj(held):
            return False
    if a.tag == T_UNSET:
        return True
    if v.tag == T_FLOAT and isnan(v.f):
        return True
    if v.tag == T_FLOAT and a.tag == T_FLOAT:
        return v.f > a.f if is_max else v.f < a.f
    if v.tag == T_INT and a.tag == T_INT:
        return v.i > a.i if is_max else v.i < a.i
    if v.tag == T_OBJ and is_nan_obj(<object>v.o):
        return True
    acc = a.i if a.tag == T_INT else a.f if a.tag == T_FLOAT else held
    return PyObject_RichCompareBool(val_obj(v), acc, Py_GT if is_max else Py_LT)
