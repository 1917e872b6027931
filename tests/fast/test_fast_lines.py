"""``lines_c.scan_lines`` against its reference: line feeds, carriage returns, ASCII.

The compiled scan reads eight bytes at a time and sums its per-byte counters
every 255 words, so the examples cross both boundaries and hold the bytes whose
bit patterns sit next to ``\\n`` and ``\\r`` (0x8A, 0x0B, 0x8D, 0x7F, 0x80, 0xFF).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from etlcore._fast import lines_c, lines_ref

NEAR = [0x0A, 0x0D, 0x00, 0x0B, 0x09, 0x0C, 0x8A, 0x8D, 0x7F, 0x80, 0xFF, 0x41]
blocks = st.one_of(
    st.binary(max_size=64),
    st.lists(st.sampled_from(NEAR), max_size=3000).map(bytes),
)


@given(blocks, st.integers(0, 7))
def test_the_scan_agrees_with_the_reference(data: bytes, skip: int) -> None:
    data = data[skip:]  # any alignment of the first byte
    assert lines_c.scan_lines(data) == lines_ref.scan_lines(data)


def test_long_blocks_count_past_the_per_byte_counters() -> None:
    for data in (b"\n" * (8 * 255 * 3 + 5), (b"x" * 7 + b"\n") * 9000 + b"\r",
                 b"a" * 100_000 + b"\xe9", b""):
        assert lines_c.scan_lines(data) == lines_ref.scan_lines(data)
    assert lines_c.scan_lines(b"\n" * 20_000) == (20_000, False, True)
    assert lines_c.scan_lines(bytearray(b"a\r\nb\n\xc3\xa9")) == (2, True, False)
