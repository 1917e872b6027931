"""A seeded synthetic source: tweets, clicks or sensor readings, replayable by offset.

Record ``i`` of partition ``p`` is computed from ``(seed, kind, p, i)`` alone
with a counter-based PRNG (splitmix64), never from shared random state, so any
range can be read again after a crash and comes out identical. Event times are
``start_time + i / rate_per_partition``: near the clock time of the batch that
carries the record, and the same on every replay.

Sides: ``GeneratorSource`` paces and plans on the driver and fixes the start
time there (kept in the checkpoint); its ``GeneratorReader`` is that config
alone, so any worker regenerates any planned range.

    ctx.source("generator", kind="clicks", rate=500, partitions=2, bad_ratio=0.01)
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Literal

from etlcore.checkpoint import read_sealed, seal, unseal, write_sealed
from etlcore.ckptstore import open_store
from etlcore.config import option
from etlcore.errors import CheckpointError, ConfigError
from etlcore.source import OffsetSource, SourceContext, SourceReader

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_KINDS = {"tweets": 1, "clicks": 2, "sensors": 3}
_BAD_SALT = 0xBAD
_SESSION_SALT = 0x5E55


@dataclass
class GeneratorSourceConfig:
    kind: Literal["tweets", "clicks", "sensors"] = option(help="what to generate")
    seed: int = option(42, help="same seed, same records")
    rate: float = option(1000.0, help="records/s for the whole source, split over partitions")
    partitions: int = option(1, help="number of partitions")
    limit: int | None = option(None, help="records per partition, then the source is exhausted")
    format: Literal["dict", "json"] = option("dict", help="dicts, or JSON strings")
    bad_ratio: float = option(0.0, help="fraction of malformed records (for cleanse steps)")
    start_time: float | None = option(
        None, help="event time of record 0 (epoch s); default: clock time at the first open"
    )

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.rate > 0 or math.isinf(self.rate):
            raise ConfigError(f"{prefix}rate", "a positive finite number of records/s", self.rate)
        if self.partitions < 1:
            raise ConfigError(f"{prefix}partitions", "a positive integer", self.partitions)
        if self.limit is not None and self.limit < 0:
            raise ConfigError(f"{prefix}limit", "a non-negative integer or null", self.limit)
        if not 0.0 <= self.bad_ratio <= 1.0:
            raise ConfigError(f"{prefix}bad_ratio", "a number between 0 and 1", self.bad_ratio)


def _mix(z: int) -> int:
    """The splitmix64 finaliser: a bijection that scrambles every input bit."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class Rng:
    """A splitmix64 stream keyed by integers: any record's randomness in O(1), no shared state."""

    __slots__ = ("_s",)

    def __init__(self, *key: int):
        s = 0
        for k in key:
            s = _mix(((s ^ (k & _M64)) + _GOLDEN) & _M64)
        self._s = s

    def next(self) -> int:
        self._s = (self._s + _GOLDEN) & _M64
        return _mix(self._s)

    def random(self) -> float:
        """Uniform in [0, 1)."""
        return (self.next() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        return self.next() % n

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.next() % len(seq)]

    def pick(self, cum: list[float]) -> int:
        """An index drawn with the weights whose running sums are ``cum``."""
        return min(bisect_right(cum, self.random() * cum[-1]), len(cum) - 1)

    def normal(self) -> float:
        """Roughly standard normal (Irwin-Hall of 4), cheap and bounded."""
        return (sum(self.random() for _ in range(4)) - 2.0) * math.sqrt(3.0)


def _zipf(n: int, s: float) -> list[float]:
    return list(accumulate(1.0 / (k + 1) ** s for k in range(n)))


_TOPIC_TEXT = (
    "ai python data cloud music football news travel food gaming crypto climate health movies "
    "art science tech startup design fitness books photography fashion space coding rust linux "
    "privacy election weather olympics nba f1 anime kpop coffee cats dogs memes jobs"
)
_TOPICS = _TOPIC_TEXT.split()
HASHTAGS = [f"#{t}{s}" for s in ("", "news", "life", "2024", "daily") for t in _TOPICS]
_TAG_CUM = _zipf(len(HASHTAGS), 1.1)
_WORD_TEXT = (
    "the a new just today this is so my we love great big day time people what why how best "
    "really think about more back good world here now going first last never always update live"
)
_WORDS = _WORD_TEXT.split()
_LANGS = ("en", "es", "ja", "pt", "fr", "de", "ko", "ar")
_LANG_CUM = list(accumulate((55, 12, 10, 7, 5, 5, 3, 3)))
_USER_CUM = _zipf(1000, 0.9)
_TWEETER_CUM = _zipf(5000, 0.8)
_SECTIONS = ("home", "search", "shoes", "shirts", "books", "games", "garden", "toys", "cart")
_ITEM_CUM = _zipf(500, 1.0)
_SLOTS, _EPOCH = 16, 16  # concurrent click sessions per partition; steps per session epoch
_SENSORS = 16  # per partition


def _tweet(rng: Rng, gen: GeneratorReader, p: int, i: int, ts: float) -> dict[str, Any]:
    words = [rng.choice(_WORDS) for _ in range(4 + rng.below(9))]
    n_tags = rng.pick([0.3, 0.65, 0.9, 1.0])
    for _ in range(n_tags):
        words.insert(rng.below(len(words) + 1), HASHTAGS[rng.pick(_TAG_CUM)])
    return {
        "id": i * gen.n_parts + p,
        "user": f"user{rng.pick(_TWEETER_CUM)}",
        "text": " ".join(words),
        "lang": _LANGS[rng.pick(_LANG_CUM)],
        "created_at": ts,
        "retweets": min(int((1.0 - rng.random()) ** -1.3) - 1, 100_000),
    }


def _click(rng: Rng, gen: GeneratorReader, p: int, i: int, ts: float) -> dict[str, Any]:
    """Sessions of 2-16 events from one user, interleaved with one-off visits.

    Index ``i`` belongs to one of ``_SLOTS`` interleaved lanes; each lane runs
    epochs of ``_EPOCH`` steps whose first ``m`` steps are one user's session.
    """
    lane, step = i % _SLOTS, i // _SLOTS
    epoch, step = divmod(step, _EPOCH)
    session = Rng(gen.seed, _SESSION_SALT, p, lane, epoch)
    length = 2 + session.below(_EPOCH - 1)
    if step < length:
        user = session.pick(_USER_CUM)
        section = session.choice(_SECTIONS)
        event = "view" if step == 0 else ("view", "click", "purchase")[rng.pick([60, 92, 100])]
    else:
        user = rng.pick(_USER_CUM)
        section = rng.choice(_SECTIONS)
        event = "view" if rng.random() < 0.9 else "click"
    return {
        "user_id": f"u{user:04d}",
        "url": f"https://shop.example.com/{section}/{rng.pick(_ITEM_CUM)}",
        "event": event,
        "ts": ts,
    }


def _sensor(rng: Rng, gen: GeneratorReader, p: int, i: int, ts: float) -> dict[str, Any]:
    sensor = p * _SENSORS + i % _SENSORS
    phase = Rng(gen.seed, sensor).random()
    wave = math.sin(2 * math.pi * (ts / 3600.0 + phase))
    temperature = 21.0 + 6.0 * wave + 0.4 * rng.normal()
    if rng.random() < 0.001:  # a rare spike, for anomaly detection examples
        temperature += 25.0
    humidity = min(100.0, max(0.0, 55.0 - 12.0 * wave + 2.0 * rng.normal()))
    return {
        "sensor_id": f"sensor-{sensor:03d}",
        "ts": ts,
        "temperature": round(temperature, 2),
        "humidity": round(humidity, 1),
    }


_MAKERS: dict[str, Callable[[Rng, GeneratorReader, int, int, float], dict[str, Any]]] = {
    "tweets": _tweet,
    "clicks": _click,
    "sensors": _sensor,
}


def _corrupt_fields(rng: Rng, record: dict[str, Any]) -> dict[str, Any]:
    """A record a schema check must reject: one field missing, null, or of the wrong type."""
    name = rng.choice(sorted(record))
    how = rng.below(3)
    if how == 0:
        del record[name]
    elif how == 1:
        record[name] = None
    else:
        record[name] = -1 if isinstance(record[name], str) else "n/a"
    return record


@dataclass(frozen=True)
class GeneratorReader(SourceReader):
    """Everything a record depends on; picklable, so a worker regenerates any range."""

    kind: str
    seed: int
    n_parts: int
    rate_pp: float  # records/s per partition: spaces the event times
    start_time: float
    format: str = "dict"
    bad_ratio: float = 0.0

    def read(self, partition: str, start: int, end: int) -> list[Any]:
        p = int(partition)
        return [self.record(p, i) for i in range(start, end)]

    def record(self, p: int, i: int) -> Any:
        """Record ``i`` of partition ``p``: a pure function of the fields and (p, i)."""
        kind_id = _KINDS[self.kind]
        rng = Rng(self.seed, kind_id, p, i)
        ts = self.start_time + i / self.rate_pp
        record = _MAKERS[self.kind](rng, self, p, i, ts)
        bad = self.bad_ratio > 0 and Rng(self.seed, _BAD_SALT, kind_id, p, i).random() < (
            self.bad_ratio
        )
        if self.format == "json":
            text = json.dumps(record, separators=(",", ":"))
            return text[: 1 + rng.below(len(text) - 1)] if bad else text
        return _corrupt_fields(rng, record) if bad else record


class GeneratorSource(OffsetSource):
    """Synthetic records at ``rate``/s, as many partitions as asked, replayable by offset.

    Each partition's planned end grows by ``rate / partitions`` per second of
    ``ctx.clock`` since the previous plan (the first plan counts from ``open``),
    so a manual clock gives every batch exactly ``rate * interval / partitions``
    records and a restart simply continues from the checkpointed positions.
    Records planned but held back by ``max_records`` stay available (a backlog).
    """

    rejects = False  # every record is generated: none is ever Rejected
    fresh_lists = True  # read builds a new list every call
    plans_ahead = True  # plan reads only the clock and the start it is given

    def __init__(self, config: GeneratorSourceConfig):
        self.config = config
        self.n_parts = config.partitions
        self.rate_pp = config.rate / config.partitions
        self.start_time = config.start_time
        self._frontier: dict[str, float] = {}
        self._planned: dict[str, int] = {}
        self._last_plan: dict[str, float] = {}
        self._clock_at_open = 0.0
        self.ctx: SourceContext | None = None

    def open(self, ctx: SourceContext) -> None:
        self.ctx = ctx
        self._clock_at_open = ctx.clock.now()
        if self.start_time is None:
            self.start_time = self._load_start_time(ctx)

    def _load_start_time(self, ctx: SourceContext) -> float:
        """The clock at the first open, kept in the checkpoint so replays share event times."""
        folder = ctx.state_location()
        now = ctx.clock.now()
        if folder is None:
            return now
        if isinstance(folder, str):  # a checkpoint on shared storage
            store = open_store(folder)
            if not store.exists("generator.json"):
                store.write("generator.json", seal({"start_time": now}))
                return now
            where = store.where("generator.json")
            start = unseal(store.read("generator.json"), where).get("start_time")
        else:
            path = folder / "generator.json"
            if not path.exists():
                write_sealed(path, {"start_time": now})
                return now
            where, start = str(path), read_sealed(path).get("start_time")
        if isinstance(start, bool) or not isinstance(start, (int, float)):
            raise CheckpointError(f"corrupt checkpoint file {where}: no start_time")
        return float(start)

    def reader(self) -> GeneratorReader:
        """The config plus the start time, which ``open`` fixes (so call it after ``open``)."""
        if self.start_time is None:
            raise RuntimeError("generator source: reader() before open(); the start time "
                               "of the event times is fixed when the source opens")
        c = self.config
        return GeneratorReader(c.kind, c.seed, self.n_parts, self.rate_pp, self.start_time,
                               c.format, c.bad_ratio)

    def partitions(self) -> list[str]:
        return [str(p) for p in range(self.n_parts)]

    def available(self, partition: str) -> int:
        end = math.floor(self._frontier.get(partition, 0.0) + 1e-6)
        return end if self.config.limit is None else min(end, self.config.limit)

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        now = self.ctx.clock.now() if self.ctx is not None else 0.0
        elapsed = max(0.0, now - self._last_plan.get(partition, self._clock_at_open))
        self._last_plan[partition] = now
        frontier = max(self._frontier.get(partition, 0.0), float(start))
        self._frontier[partition] = frontier + elapsed * self.rate_pp
        end = super().plan(partition, start, max_records)
        self._planned[partition] = end
        return end

    def exhausted(self) -> bool:
        limit = self.config.limit
        return limit is not None and all(
            self._planned.get(p, 0) >= limit for p in self.partitions()
        )
