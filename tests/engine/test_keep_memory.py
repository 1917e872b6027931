"""``StreamingContext(keep_memory=...)``: the driver keeps freed arenas, only when asked.

The arena cache is process-wide and cannot be uninstalled, so whether it takes
effect is checked in a fresh interpreter, through ``arenas_c.stats()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from etlcore import StreamingContext, _fast
from etlcore.errors import ConfigError
from etlcore.job import job_from_mapping
from etlcore.runners.workermem import DRIVER_ARENA_CACHE, check_keep_memory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bad", ["yes", 0, -3, 1.5, "1024", [1]])
def test_a_bad_keep_memory_is_named(bad):
    with pytest.raises(ConfigError) as err:
        StreamingContext(1.0, clock="manual", keep_memory=bad)
    assert "keep_memory" in str(err.value) and "MiB" in str(err.value)


def test_keep_memory_values():
    assert check_keep_memory(False) == 0
    assert check_keep_memory(True) == DRIVER_ARENA_CACHE
    assert check_keep_memory(64) == 64


def test_a_yaml_job_says_keep_memory_and_a_bad_value_is_named():
    doc = {"name": "keep", "source": {"type": "queue", "config": {"batches": [[1]]}},
           "store": [{"sink": "memory", "config": {"name": "keep-yaml"}}]}
    assert job_from_mapping({**doc, "keep_memory": 32}).context_options["keep_memory"] == 32
    with pytest.raises(ConfigError, match="keep_memory"):
        job_from_mapping(yaml.safe_load(yaml.safe_dump({**doc, "keep_memory": "lots"})))


_PROBE = """
from etlcore import StreamingContext, _fast
from etlcore._fast import arenas_c

def run(**options):
    ctx = StreamingContext(1.0, clock="manual", **options)
    ctx.queue_stream([[1, 2], [3]]).map(lambda r: [r] * 1000).foreach_batch(lambda b, r: None)
    before = arenas_c.stats()[1]
    ctx.run(batches=2)
    return before, arenas_c.stats()[1]

print(run(), run(keep_memory=7))
"""


def test_keep_memory_installs_the_arena_cache_when_the_job_opens():
    if not _fast.COMPILED:
        pytest.skip("ETLCORE_PURE_PYTHON=1: arenas_ref caches nothing (CI runs compiled)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    # off: the driver keeps CPython's allocator; on: limit 7 once the job opened, not before
    assert out.strip() == "(0, 0) (0, 7)"


_HEAP_PROBE = """
import ctypes, sys
from etlcore import StreamingContext

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):
    print("no glibc")
    raise SystemExit
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
ctx = StreamingContext(1.0, clock="manual", keep_memory=int(sys.argv[1]))
ctx.queue_stream([[1]]).foreach_batch(lambda b, r: None)
ctx.run(batches=1)
blocks = [libc.malloc(16 << 20) for _ in range(6)]  # 96 MiB of heap, below mmap's 32 MiB
for b in reversed(blocks):  # the heap's top is free now: glibc trims it past the threshold
    libc.free(b)
print(libc.mallinfo2().arena >> 20)
"""


@pytest.mark.parametrize("mib", [512, 16])
def test_keep_memory_keeps_as_much_freed_heap_as_it_says(mib):
    # the glibc heap's trim threshold follows the limit: 96 MiB freed at the top stay
    # mapped under 512 MiB (a fixed 64 MiB threshold trimmed them), not under 16
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", _HEAP_PROBE, str(mib)], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    if out.strip() == "no glibc":
        pytest.skip("the heap's trim threshold is glibc's")
    heap_mib = int(out)
    assert heap_mib >= 96 if mib == 512 else heap_mib < 96
