"""Reference partitioner: Kafka-compatible murmur2 and a process-independent key hash.

This is the executable specification of ``partition_c``; the two are tested
against each other. Python's ``hash()`` is salted per process
(PYTHONHASHSEED), so it cannot route a key to the same partition on every
worker: ``stable_hash`` can.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from ._common import CANONICAL_NAN, TUPLE_MARKER, bigint_bytes, check_partitions, key_type_error

__all__ = [
    "murmur2",
    "partition_for",
    "partition_columns",
    "partition_pairs",
    "partition_records",
    "stable_hash",
    "to_positive",
]

_M32 = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """Kafka's ``Utils.murmur2``, bit for bit, as the signed 32-bit int Java returns."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"murmur2() needs bytes, bytearray or memoryview, not {type(data).__name__}"
        )
    buf = bytes(data)
    length = len(buf)
    h = (_SEED ^ length) & _M32
    end = length & ~3
    for i in range(0, end, 4):
        k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)
        k = (k * _M) & _M32
        k ^= k >> _R
        k = (k * _M) & _M32
        h = ((h * _M) & _M32) ^ k
    tail = length & 3
    if tail == 3:
        h ^= buf[end + 2] << 16
    if tail >= 2:
        h ^= buf[end + 1] << 8
    if tail >= 1:
        h ^= buf[end]
        h = (h * _M) & _M32
    h ^= h >> 13
    h = (h * _M) & _M32
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(h: int) -> int:
    """Kafka's ``Utils.toPositive``: clear the sign bit (not ``abs``, which overflows)."""
    return h & 0x7FFFFFFF


def _int_bytes(n: int) -> bytes:
    """LongSerializer's 8 big-endian bytes when ``n`` fits int64, else the big-int form."""
    if _INT64_MIN <= n <= _INT64_MAX:
        return n.to_bytes(8, "big", signed=True)
    return bigint_bytes(n)


def stable_hash(key: Any) -> int:
    """Hash ``key`` to a non-negative 31-bit int that is the same in every process.

    Keys that compare equal hash equally (``1 == 1.0 == True``), as for ``dict``,
    so a shuffle never splits a group that a hash aggregation would merge.
    """
    if isinstance(key, str):
        return murmur2(key.encode("utf-8", "surrogatepass")) & 0x7FFFFFFF
    if isinstance(key, (bytes, bytearray, memoryview)):
        return murmur2(key) & 0x7FFFFFFF
    if isinstance(key, int):
        return murmur2(_int_bytes(key)) & 0x7FFFFFFF
    if isinstance(key, float):
        if math.isfinite(key) and key == math.floor(key):
            # integral floats hash as the int they equal
            return murmur2(_int_bytes(int(key))) & 0x7FFFFFFF
        raw = CANONICAL_NAN if math.isnan(key) else struct.pack(">d", key)
        return murmur2(raw) & 0x7FFFFFFF
    if key is None:
        return 0
    if isinstance(key, tuple):
        parts = [TUPLE_MARKER]
        parts.extend(stable_hash(item).to_bytes(4, "big") for item in key)
        return murmur2(b"".join(parts)) & 0x7FFFFFFF
    raise key_type_error(key)


def partition_for(key: Any, n: int) -> int:
    """The partition of ``key`` among ``n``: Kafka's default partitioner for bytes and str."""
    return stable_hash(key) % check_partitions(n)


def partition_pairs(pairs: list, n: int) -> list[list]:
    """Split ``(key, value)`` pairs into ``n`` lists by key, keeping input order in each."""
    out: list[list] = [[] for _ in range(check_partitions(n))]
    for pair in pairs:
        out[stable_hash(pair[0]) % n].append(pair)
    return out


def partition_columns(keys: list, values: list, n: int) -> list[tuple[list, list]]:
    """Split parallel ``keys`` and ``values`` lists into ``n`` ``(keys, values)`` pairs by
    key, as ``partition_pairs`` splits ``(key, value)`` pairs."""
    parts = check_partitions(n)
    keys, values = list(keys), list(values)
    if len(keys) != len(values):
        raise ValueError(f"partition_columns: {len(keys)} keys but {len(values)} values")
    if parts == 1:
        return [(keys, values)]
    out: list[tuple[list, list]] = [([], []) for _ in range(parts)]
    for key, value in zip(keys, values, strict=True):
        ks, vs = out[stable_hash(key) % parts]
        ks.append(key)
        vs.append(value)
    return out


def partition_records(records: list, n: int, key: Callable[[Any], Any]) -> list[list]:
    """Split records into ``n`` lists by ``key(record)``, keeping input order in each."""
    out: list[list] = [[] for _ in range(check_partitions(n))]
    for record in records:
        out[stable_hash(key(record)) % n].append(record)
    return out
