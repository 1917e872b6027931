# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled partitioner: the interface and results of ``partition_ref``, in C.

Hot paths (str, bytes and int64 keys) hash straight from the object's buffer
without building a bytes object; everything rare (big ints, surrogates,
memoryviews) goes through the same ``_common`` helpers as the reference.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_Check, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_Clear
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.list cimport PyList_Append, PyList_CheckExact
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_Check
from cpython.tuple cimport PyTuple_Check, PyTuple_CheckExact
from cpython.unicode cimport PyUnicode_Check
from libc.math cimport floor, isfinite, isnan
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from etlcore._fast._common import bigint_bytes, check_partitions, key_type_error

__all__ = [
    "murmur2",
    "partition_for",
    "partition_columns",
    "partition_pairs",
    "partition_records",
    "stable_hash",
    "to_positive",
]

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) noexcept
    bint PyMemoryView_Check(object) noexcept
    int Py_EnterRecursiveCall(const char*) except -1
    void Py_LeaveRecursiveCall() noexcept

cdef enum:
    TUPLE_STACK = 32  # tuple keys up to this arity hash without malloc

cdef uint8_t TUPLE_MARKER = 0x54
cdef const char* CANONICAL_NAN = b"\x7f\xf8\x00\x00\x00\x00\x00\x00"


# ---------------------------------------------------------------- murmur2


cdef inline uint32_t murmur2_raw(const uint8_t* data, Py_ssize_t length) noexcept nogil:
    """Kafka's Utils.murmur2 on unsigned 32-bit arithmetic (Java's int wraps the same)."""
    cdef uint32_t m = 0x5BD1E995
    cdef uint32_t h = <uint32_t>0x9747B28C ^ <uint32_t>length
    cdef uint32_t k
    cdef Py_ssize_t i
    cdef Py_ssize_t end = length & ~(<Py_ssize_t>3)
    for i in range(0, end, 4):
        k = (<uint32_t>data[i] | (<uint32_t>data[i + 1] << 8)
             | (<uint32_t>data[i + 2] << 16) | (<uint32_t>data[i + 3] << 24))
        k *= m
        k ^= k >> 24
        k *= m
        h *= m
        h ^= k
    cdef Py_ssize_t tail = length & 3
    if tail == 3:
        h ^= <uint32_t>data[end + 2] << 16
    if tail >= 2:
        h ^= <uint32_t>data[end + 1] << 8
    if tail >= 1:
        h ^= <uint32_t>data[end]
        h *= m
    h ^= h >> 13
    h *= m
    h ^= h >> 15
    return h


cdef inline int64_t calc_bytes(const char* data, Py_ssize_t length) noexcept nogil:
    """to_positive(murmur2(data)) as the non-negative 31-bit partition hash."""
    return murmur2_raw(<const uint8_t*>data, length) & 0x7FFFFFFF


cdef inline int64_t calc_int64(int64_t value) noexcept nogil:
    """Hash of Kafka LongSerializer's 8 big-endian bytes, without building them in Python."""
    cdef uint8_t buf[8]
    cdef uint64_t u = <uint64_t>value
    cdef int i
    for i in range(8):
        buf[i] = <uint8_t>(u >> (56 - 8 * i))
    return murmur2_raw(buf, 8) & 0x7FFFFFFF


cdef inline int64_t calc_double(double value) noexcept nogil:
    """Hash of DoubleSerializer's big-endian IEEE-754 bytes, NaN canonicalised as in Java."""
    cdef uint64_t bits
    cdef uint8_t buf[8]
    cdef int i
    if isnan(value):
        return murmur2_raw(<const uint8_t*>CANONICAL_NAN, 8) & 0x7FFFFFFF
    memcpy(&bits, &value, 8)
    for i in range(8):
        buf[i] = <uint8_t>(bits >> (56 - 8 * i))
    return murmur2_raw(buf, 8) & 0x7FFFFFFF


cdef inline int64_t calc_pybytes(bytes data) noexcept:
    """Hash a bytes object built on a slow path."""
    return calc_bytes(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


# ---------------------------------------------------------------- stable hash


cdef int64_t calc_tuple(tuple key) except -1:
    """murmur2 over a marker byte and the 4-byte big-endian hash of each element."""
    cdef Py_ssize_t n = len(key)
    cdef Py_ssize_t size = 1 + 4 * n
    cdef uint8_t stack[1 + 4 * TUPLE_STACK]
    cdef uint8_t* buf = stack
    cdef Py_ssize_t i
    cdef int64_t h
    if n > TUPLE_STACK:
        buf = <uint8_t*>malloc(size)
        if buf == NULL:
            raise MemoryError()
    try:
        Py_EnterRecursiveCall(" while hashing a tuple key")
        try:
            buf[0] = TUPLE_MARKER
            for i in range(n):
                h = calc_key(key[i])
                buf[1 + 4 * i] = <uint8_t>(h >> 24)
                buf[2 + 4 * i] = <uint8_t>(h >> 16)
                buf[3 + 4 * i] = <uint8_t>(h >> 8)
                buf[4 + 4 * i] = <uint8_t>h
        finally:
            Py_LeaveRecursiveCall()
        return murmur2_raw(buf, size) & 0x7FFFFFFF
    finally:
        if buf != stack:
            free(buf)


cdef int64_t calc_key(object key) except -1:
    """stable_hash in C: dispatch on the key's type, cheapest common types first."""
    cdef const char* data
    cdef Py_ssize_t length
    cdef int overflow = 0
    cdef long long as_int
    cdef double as_float
    if PyUnicode_Check(key):
        data = PyUnicode_AsUTF8AndSize(key, &length)
        if data == NULL:  # lone surrogates: encode them as the reference does
            PyErr_Clear()
            return calc_pybytes((<str>key).encode("utf-8", "surrogatepass"))
        return calc_bytes(data, length)
    if PyBytes_Check(key):
        return calc_bytes(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))
    if PyLong_Check(key):
        as_int = PyLong_AsLongLongAndOverflow(key, &overflow)
        if overflow == 0:
            return calc_int64(as_int)
        return calc_pybytes(bigint_bytes(key))
    if PyFloat_Check(key):
        as_float = PyFloat_AS_DOUBLE(key)
        if isfinite(as_float) and as_float == floor(as_float):
            # integral floats hash as the int they equal, like Python's hash()
            if -9223372036854775808.0 <= as_float < 9223372036854775808.0:
                return calc_int64(<int64_t>as_float)
            return calc_pybytes(bigint_bytes(int(key)))
        return calc_double(as_float)
    if key is None:
        return 0
    if PyTuple_Check(key):
        return calc_tuple(<tuple>key)
    if PyByteArray_Check(key):
        return calc_bytes(PyByteArray_AS_STRING(key), PyByteArray_GET_SIZE(key))
    if PyMemoryView_Check(key):
        return calc_pybytes(bytes(key))
    raise key_type_error(key)


# ---------------------------------------------------------------- public API


def murmur2(data) -> int:
    """Kafka's ``Utils.murmur2``, bit for bit, as the signed 32-bit int Java returns."""
    cdef uint32_t h
    if PyBytes_Check(data):
        h = murmur2_raw(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    elif PyByteArray_Check(data):
        h = murmur2_raw(<const uint8_t*>PyByteArray_AS_STRING(data), PyByteArray_GET_SIZE(data))
    elif PyMemoryView_Check(data):
        raw = bytes(data)
        h = murmur2_raw(<const uint8_t*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
    else:
        raise TypeError(
            f"murmur2() needs bytes, bytearray or memoryview, not {type(data).__name__}"
        )
    return <int32_t>h


def to_positive(h) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (not ``abs``, which overflows)."""
    return h & 0x7FFFFFFF


def stable_hash(key) -> int:
    """Hash ``key`` to a non-negative 31-bit int that is the same in every process."""
    return calc_key(key)


def partition_for(key, n) -> int:
    """The partition of ``key`` among ``n``: Kafka's default partitioner for bytes and str."""
    cdef Py_ssize_t parts = check_partitions(n)
    return calc_key(key) % parts


def partition_pairs(pairs, n) -> list:
    """Split ``(key, value)`` pairs into ``n`` lists by key, keeping input order in each."""
    cdef Py_ssize_t parts = check_partitions(n)
    cdef list out = [[] for _ in range(parts)]
    cdef list items = pairs if PyList_CheckExact(pairs) else list(pairs)
    cdef Py_ssize_t i = 0
    cdef object item, key
    while i < len(items):
        item = items[i]
        if PyTuple_CheckExact(item) and len(<tuple>item) > 0:
            key = (<tuple>item)[0]
        else:
            key = item[0]
        PyList_Append(out[calc_key(key) % parts], item)
        i += 1
    return out


def partition_columns(keys, values, n) -> list:
    """Split parallel ``keys`` and ``values`` lists into ``n`` ``(keys, values)`` pairs by
    key, as ``partition_pairs`` splits ``(key, value)`` pairs (map-side partials sent as
    columns: no tuple per key)."""
    cdef Py_ssize_t parts = check_partitions(n)
    cdef list ks = keys if PyList_CheckExact(keys) else list(keys)
    cdef list vs = values if PyList_CheckExact(values) else list(values)
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t j
    cdef object key
    if len(ks) != len(vs):
        raise ValueError(f"partition_columns: {len(ks)} keys but {len(vs)} values")
    if parts == 1:
        return [(ks, vs)]
    cdef list out = [([], []) for _ in range(parts)]
    while i < len(ks) and i < len(vs):
        key = ks[i]
        j = calc_key(key) % parts
        PyList_Append((<tuple>out[j])[0], key)
        PyList_Append((<tuple>out[j])[1], vs[i])
        i += 1
    return out


def partition_records(records, n, key) -> list:
    """Split records into ``n`` lists by ``key(record)``, keeping input order in each."""
    cdef Py_ssize_t parts = check_partitions(n)
    cdef list out = [[] for _ in range(parts)]
    cdef object record
    for record in records:
        PyList_Append(out[calc_key(key(record)) % parts], record)
    return out
