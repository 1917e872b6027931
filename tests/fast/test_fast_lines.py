"""``lines_c.scan_lines`` and ``lines_c.split_lines`` against their references: line
feeds, carriage returns, ASCII; lines as ``str``, None where the block must be decoded
line by line.

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


#: UTF-8 pieces: ASCII, 2-, 3- and 4-byte characters, line breaks, and bytes that never
#: decode (a lone continuation byte, a truncated sequence, an overlong form, a surrogate)
PIECES = [b"a", b"xyz", b"\n", b"\r", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80",
          b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\x7f", b"\x00", b"\n\n"]
texts = st.one_of(
    st.binary(max_size=64),
    st.lists(st.sampled_from(PIECES), max_size=400).map(b"".join),
)


@given(texts, st.integers(0, 7), st.booleans())
def test_the_split_agrees_with_the_reference(data: bytes, skip: int, utf8: bool) -> None:
    data = data[skip:]
    assert lines_c.split_lines(data, utf8) == lines_ref.split_lines(data, utf8)


def test_the_split_gives_what_decode_and_split_give() -> None:
    ascii_lines = b"".join(b"%08d " % i + b"x" * 990 + b"\n" for i in range(3000))
    utf8_lines = "caf\u00e9 \u20ac\n\nna\u00efve\nlast".encode()
    for data in (ascii_lines, utf8_lines, b"", b"\n", b"a", b"no break at the end"):
        expected = data.decode().split("\n")
        if expected[-1] == "":
            expected.pop()
        assert lines_c.split_lines(data) == expected
    assert lines_c.split_lines(b"a\r\nb\n") is None  # \r: decoded line by line
    assert lines_c.split_lines(b"ok\nbad \xff\n") is None  # a dead letter to make
    assert lines_c.split_lines(utf8_lines, False) is None  # ASCII only
    assert lines_c.split_lines(b"plain\n", False) == ["plain"]
