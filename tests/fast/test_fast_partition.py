"""Partitioner: Kafka's murmur2 vectors, cross-process stability, C/reference parity."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fast.conftest import load
from tests.fast.strategies import keys, pairs

REF = load("partition", "ref")
C = load("partition", "c")
ROOT = Path(__file__).resolve().parents[2]

# Kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java (testMurmur2),
# plus the values akka's Murmur2Spec checks against the Kafka implementation.
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}


@pytest.mark.parametrize(("data", "expected"), sorted(KAFKA_VECTORS.items()))
def test_murmur2_matches_kafka(partition: ModuleType, data: bytes, expected: int) -> None:
    assert partition.murmur2(data) == expected
    assert partition.murmur2(bytearray(data)) == expected
    assert partition.murmur2(memoryview(data)) == expected


def test_str_keys_follow_kafka_default_partitioner(partition: ModuleType) -> None:
    # StringSerializer (UTF-8) + Utils.toPositive(Utils.murmur2(bytes)) % n
    for data, h in KAFKA_VECTORS.items():
        assert partition.stable_hash(data.decode()) == h & 0x7FFFFFFF
        assert partition.partition_for(data.decode(), 7) == (h & 0x7FFFFFFF) % 7
    assert partition.stable_hash("日本") == partition.to_positive(
        partition.murmur2("日本".encode())
    )


def test_number_keys_follow_kafka_serializers(partition: ModuleType) -> None:
    for n in (0, 1, -1, 2**40, -(2**63), 2**63 - 1):
        expected = partition.murmur2(struct.pack(">q", n)) & 0x7FFFFFFF  # LongSerializer
        assert partition.stable_hash(n) == expected
    for x in (0.5, -2.25, 1e-300, float("inf")):
        expected = partition.murmur2(struct.pack(">d", x)) & 0x7FFFFFFF  # DoubleSerializer
        assert partition.stable_hash(x) == expected
    nan_bits = struct.pack(">Q", 0x7FF8000000000000)  # Double.doubleToLongBits(NaN)
    assert partition.stable_hash(float("nan")) == partition.murmur2(nan_bits) & 0x7FFFFFFF
    assert partition.stable_hash(-float("nan")) == partition.stable_hash(float("nan"))


def test_equal_keys_hash_equal(partition: ModuleType) -> None:
    # keys a dict (and so HashAgg) would merge must land in the same partition
    assert partition.stable_hash(1) == partition.stable_hash(1.0) == partition.stable_hash(True)
    assert partition.stable_hash(0.0) == partition.stable_hash(-0.0) == partition.stable_hash(0)
    assert partition.stable_hash(2**80) == partition.stable_hash(float(2**80))
    assert partition.stable_hash((1, "a")) == partition.stable_hash((1.0, "a"))
    assert partition.stable_hash(b"ab") == partition.stable_hash(bytearray(b"ab"))


def test_stable_hash_basics(partition: ModuleType) -> None:
    assert partition.stable_hash(None) == 0
    assert partition.to_positive(-1) == 0x7FFFFFFF
    assert partition.stable_hash(2**64) != partition.stable_hash(0)  # big ints keep all bits
    assert partition.stable_hash((1, 2)) != partition.stable_hash((2, 1))
    assert partition.stable_hash(()) != partition.stable_hash(None)
    deep: tuple = ()
    for _ in range(50):
        deep = (deep, 1)
    assert 0 <= partition.stable_hash(deep) < 2**31


def test_bad_keys_and_partition_counts(partition: ModuleType) -> None:
    with pytest.raises(TypeError, match=r"'list'.*str, bytes, int, float, None or tuples.*key_by"):
        partition.stable_hash([1])
    with pytest.raises(TypeError, match="'dict'"):
        partition.partition_pairs([(({},), 1)], 2)
    with pytest.raises(TypeError, match="murmur2"):
        partition.murmur2("text")
    with pytest.raises(ValueError, match=">= 1"):
        partition.partition_for(1, 0)
    with pytest.raises(TypeError):
        partition.partition_pairs([], 2.0)


def test_partition_pairs_keeps_order(partition: ModuleType) -> None:
    data = [(i % 5, i) for i in range(100)]
    parts = partition.partition_pairs(data, 3)
    assert sorted((p for part in parts for p in part), key=lambda kv: kv[1]) == data
    for i, part in enumerate(parts):
        assert part == sorted(part, key=lambda kv: kv[1])
        assert all(partition.partition_for(k, 3) == i for k, _ in part)
    assert partition.partition_pairs([], 4) == [[], [], [], []]


def test_partition_records_uses_key_function(partition: ModuleType) -> None:
    records = [{"user": f"u{i % 7}", "n": i} for i in range(30)]
    by_user = partition.partition_records(records, 4, lambda r: r["user"])
    by_pairs = partition.partition_pairs([(r["user"], r) for r in records], 4)
    assert by_user == [[r for _, r in part] for part in by_pairs]


_CHILD = """
import json, sys
from etlcore._fast import partition_ref, partition_c
keys = ["", "a", "日本", b"\\x00\\xff", 0, -1, 2**63, -(2**70), 1.5, float("nan"), None,
        (1, ("x", None)), True, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"]
print(json.dumps([[partition_ref.stable_hash(k), partition_c.stable_hash(k)] for k in keys]))
"""


def test_stable_hash_is_identical_across_processes() -> None:
    outputs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
    assert all(ref == c for ref, c in outputs[0])
    assert outputs[0][1] == [REF.stable_hash("a")] * 2


# ---------------------------------------------------------------- parity


@given(st.binary(max_size=64))
def test_murmur2_parity(data: bytes) -> None:
    assert C.murmur2(data) == REF.murmur2(data)


@given(keys)
def test_stable_hash_parity(key: object) -> None:
    h = REF.stable_hash(key)
    assert C.stable_hash(key) == h
    assert 0 <= h < 2**31


@given(pairs, st.integers(1, 9))
def test_partition_pairs_parity(data: list, n: int) -> None:
    assert C.partition_pairs(data, n) == REF.partition_pairs(data, n)
    assert C.partition_pairs(iter(data), n) == REF.partition_pairs(data, n)
    for key, _ in data[:5]:
        assert C.partition_for(key, n) == REF.partition_for(key, n)


@given(pairs, st.integers(1, 9))
def test_partition_records_parity(data: list, n: int) -> None:
    def key(record: tuple) -> object:
        return record[0]

    assert C.partition_records(data, n, key) == REF.partition_records(data, n, key)


@given(pairs, st.integers(1, 5))
def test_partition_columns_split_as_partition_pairs_does(data: list, n: int) -> None:
    keys, values = [k for k, _ in data], [v for _, v in data]
    want = [([k for k, _ in b], [v for _, v in b]) for b in REF.partition_pairs(data, n)]
    for mod in (REF, C):
        assert mod.partition_columns(keys, values, n) == want
    with pytest.raises(ValueError, match="2 keys but 1 values"):
        C.partition_columns(["a", "b"], [1], 2)
    with pytest.raises(ValueError, match="2 keys but 1 values"):
        REF.partition_columns(["a", "b"], [1], 2)

