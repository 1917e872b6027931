"""The one deterministic data generator every engine reads (seeded, cached on disk).

Records are plain tuples/strings (the row form); columnar engines convert them
(untimed). Values are chosen so every engine's answer is exact: float values
are multiples of 1/64 or 1/4, so sums do not depend on the order of addition,
and event times are whole milliseconds.

* W1 ``lines``: str, ~8 words drawn Zipf-like from a 10,000-word vocabulary.
* W2 ``(ts, key, value)``: ~``per_second`` records per event-time second,
  ``keys`` int keys, ts slightly out of order (up to 250 ms), then a flush record.
* W3 JSON lines ``{"id", "user", "amount", "country", "ts", "tags"}``; ~4% bad
  (malformed JSON, missing or null amount) and ~5% negative amounts.
* W4 ``(ts, user)`` clicks (up to 250 ms out of order): per user, sessions of clicks 0.5-20 s apart separated
  by 60-600 s of silence (session gap 30 s), then a flush record.

The flush record (key/user ``FLUSH_KEY``, far in the future) advances watermarks so
windowed engines emit every real window; answers leave it out.

**W1 and W3 reach every engine as a file** (:data:`FILE_FED`): their lines are written
once, untimed, to ``CACHE/NAME.lines`` (one record a line, cached like the pickles), and
every engine's timed run reads that file itself, through its own reader where it has
one: records are born where the engine reads them, as they are for a job over files or
a log, and no engine gets them from the benchmark's memory.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0  # first event time (epoch seconds)
FLUSH_KEY = -1
SESSION_GAP_S = 30.0
MAX_DELAY_S = 1.0  # allowed event-time disorder (watermark delay) for W2 and W4
VOCABULARY = 10_000

CACHE = Path(os.environ.get("ETLCORE_BENCH_CACHE", "bench-results/cache"))


@dataclass(frozen=True)
class Spec:
    """One workload's size: ``records`` input records, ``keys`` distinct keys/users."""

    workload: str
    records: int
    keys: int = 10_000
    per_second: int = 100_000  # W2: records per event-time second
    window_s: int = 1  # W2: tumbling window length (the scaling sweep grows it)

    @property
    def name(self) -> str:
        """The data's cache name (the window length does not change the data)."""
        return f"{self.workload}-{self.records}-{self.keys}-{self.per_second}"

    @property
    def answer_name(self) -> str:
        return f"{self.name}-{self.window_s}"


def _vocabulary(rng: random.Random) -> list[str]:
    words: set[str] = set()
    letters = string.ascii_lowercase
    while len(words) < VOCABULARY:
        words.add("".join(rng.choices(letters, k=rng.randint(2, 10))))
    return sorted(words)


def gen_w1(spec: Spec) -> list[str]:
    """``spec.records`` lines of 4-12 words (mean 8), Zipf(1) over the vocabulary."""
    rng = random.Random(1)
    vocab = _vocabulary(rng)
    rng.shuffle(vocab)
    cum: list[float] = []
    total = 0.0
    for rank in range(1, len(vocab) + 1):
        total += 1.0 / rank
        cum.append(total)
    lengths = [rng.randint(4, 12) for _ in range(spec.records)]
    words = rng.choices(vocab, cum_weights=cum, k=sum(lengths))
    out, i = [], 0
    for n in lengths:
        out.append(" ".join(words[i:i + n]))
        i += n
    return out


def gen_w2(spec: Spec) -> list[tuple[float, int, float]]:
    """``(ts, key, value)``: a steady ``per_second`` rate, up to 250 ms out of order."""
    rng = random.Random(2)
    rate = spec.per_second
    rand, randrange = rng.random, rng.randrange
    out = []
    for i in range(spec.records):
        ms = round((i / rate - 0.25 * rand()) * 1000)
        out.append((T0 + max(ms, 0) / 1000, randrange(spec.keys), randrange(1 << 16) / 64))
    last = out[-1][0] if out else T0
    out.append((last + 100.0, FLUSH_KEY, 0.0))
    return out


def gen_w3(spec: Spec) -> list[str]:
    """JSON lines; a few malformed, some without a usable amount, some negative."""
    rng = random.Random(3)
    countries = ["DE", "FR", "US", "BR", "IN", "JP", "NG", "GB"]
    out = []
    for i in range(spec.records):
        roll = rng.random()
        rec: dict[str, Any] = {
            "id": i, "user": f"user{rng.randrange(spec.keys)}",
            "amount": rng.randrange(0, 400_000) / 4,
            "country": rng.choice(countries), "ts": T0 + i / 1000,
            "tags": ["web", "mobile"][: rng.randint(0, 2)],
        }
        if roll < 0.05:
            rec["amount"] = -rec["amount"] - 0.25
        elif roll < 0.065:
            rec["amount"] = None
        elif roll < 0.08:
            del rec["amount"]
        line = json.dumps(rec)
        if 0.08 <= roll < 0.09:
            line = line[: rng.randrange(1, len(line) - 1)]  # truncated: malformed JSON
        out.append(line)
    return out


def gen_w4(spec: Spec) -> list[tuple[float, int]]:
    """``(ts, user)`` clicks in event-time order, up to 250 ms out of order."""
    rng = random.Random(4)
    per_user = max(1, spec.records // spec.keys)
    events: list[tuple[float, int]] = []
    for user in range(spec.keys):
        t = rng.randrange(0, 600_000)
        left = per_user
        while left > 0:
            for _ in range(min(left, rng.randint(1, 15))):
                events.append((T0 + t / 1000, user))
                t += rng.randrange(500, 20_000)
                left -= 1
            t += rng.randrange(60_000, 600_000)
    rand = rng.random
    events.sort(key=lambda e: e[0] + 0.25 * rand())  # at most 250 ms out of order
    last = max(e[0] for e in events)
    events.append((last + 1000.0, FLUSH_KEY))
    return events


GENERATORS = {"W1": gen_w1, "W2": gen_w2, "W3": gen_w3, "W4": gen_w4}


def load(spec: Spec) -> list[Any]:
    """The records for ``spec``, generated once and cached as a pickle."""
    path = CACHE / f"{spec.name}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    data = GENERATORS[spec.workload](spec)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return data


#: Workloads whose input every engine reads from a line file inside its timed run.
FILE_FED = ("W1", "W3")


@dataclass(frozen=True)
class LineFile:
    """A file-fed workload's input as engines get it: the path of its lines, and their count."""

    path: str
    records: int

    def __len__(self) -> int:
        return self.records


def line_file(spec: Spec, data: list[str] | None = None) -> LineFile:
    """``spec``'s records written one a line to ``CACHE/NAME.lines``, once (untimed).

    A record holding a newline could not be one line; none of W1's or W3's does.
    """
    path = CACHE / f"{spec.name}.lines"
    records = data if data is not None else load(spec)
    if not path.exists():
        if any("\n" in line for line in records):
            raise ValueError(f"{spec.name}: a record holds a newline, so it cannot be one line")
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write("".join(line + "\n" for line in records).encode())
        tmp.replace(path)
    return LineFile(str(path), len(records))


def read_lines(path: str) -> list[str]:
    """Every line of a line file, without its newline: the reference the feed tests compare
    ``LineFileSource`` with (the plain loops iterate the file instead, a line at a time)."""
    with open(path, "rb") as f:
        return f.read().decode().split("\n")[:-1]
