"""Catch-up batches: a job with a backlog plans several source steps into one batch.

A step source (``QueueSource``, a source that serves one fixed chunk a batch as
Spark's ``queueStream(oneAtATime=True)`` does) puts one step into every batch. When
the job is behind (the next batch time has already passed, or the manual clock runs
batches back to back) and each batch costs a fixed amount whatever it holds (a
Spark job per stage: ~100 ms+), one batch per step is time thrown away. Structured
Streaming plans a backlog in large batches (``Trigger.AvailableNow``,
``maxOffsetsPerTrigger``); this is the same for etlcore's step sources.

Only a source that declares ``Source.coalesces`` is planned this way (its contract
is in :class:`etlcore.source.Source`); the plan is still one logged range per
partition, so a replay reads the same large batch. The cap is records per batch
from one source, split evenly over its partitions; the rate bound
(``max_rate_per_partition``, backpressure) wins over it. The first step is always
taken, as without catch-up.

No small tail of a backlog is left for a batch of its own: when what a full batch
leaves is at most a tenth of the limit (:data:`TAIL_SHARE`), the batch takes it too;
a batch of a handful of records costs its whole fixed cost (a Spark job) for nothing.
Hadoop's ``FileInputFormat`` cuts a file's last split the same way (up to 10% over
the split size, ``SPLIT_SLOP``), so ``textFile`` makes no split of a few bytes. The
rate bound still wins: the tail is taken only within it.

The runner declares its preference (``Runner.catch_up_records``: the spark runner
1,000,000, local and processes off); ``StreamingContext(catch_up=...)``, the YAML
key ``catch_up`` and ``etlcore run --catch-up`` override it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etlcore.errors import ConfigError

if TYPE_CHECKING:
    from etlcore.clock import Clock
    from etlcore.runners.base import Runner
    from etlcore.source import Position, Source

#: the cap ``catch_up=True`` means for a runner that has none of its own
DEFAULT_RECORDS = 1_000_000
#: a batch takes the rest of the backlog when that is at most this share of its limit
#: (Hadoop's ``FileInputFormat.SPLIT_SLOP`` of 1.1: a last split up to 10% over size)
TAIL_SHARE = 0.1

_override: dict[str, Any] | None = None  # etlcore run --catch-up


def override_catch_up(value: Any) -> None:
    """Make every context built from now on use this setting (``etlcore run --catch-up``);
    ``None`` lets the job file (or the runner) decide again."""
    global _override
    _override = None if value is None else {"value": catch_up_setting(value, "--catch-up")}


def catch_up_setting(value: Any, key: str = "catch_up") -> int | bool | None:
    """``value`` checked: None (the runner's default), True/False, or records (> 0; 0 is off).

    Strings come from the command line: ``on``, ``off`` or a number of records.
    """
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "")
        if text in ("on", "true", "yes"):
            return True
        if text in ("off", "false", "no"):
            return False
        if text.isdigit():
            value = int(text)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value >= 0:
        return value if value > 0 else False
    raise ConfigError(key, "on, off, or the most records a catch-up batch takes from one "
                      "source (a positive integer)", value)


def catch_up_records(value: int | bool | None, runner: Runner) -> int | None:
    """The cap in records a catch-up batch takes from one source, or None (off)."""
    if _override is not None:
        value = _override["value"]
    if value is None:
        return runner.catch_up_records
    if value is True:
        return runner.catch_up_records or DEFAULT_RECORDS
    if value is False:
        return None
    return int(value)


def behind(clock: Clock, batch_time: float, interval: float) -> bool:
    """The job has a backlog: the batch after this one is due already (a manual clock
    always runs batches back to back)."""
    return not clock.sleeps or clock.now() >= batch_time + interval


def tail_records(limit: int, bound: int | None) -> int:
    """How many records over ``limit`` a batch may take to leave no tail behind: a tenth
    of the limit, within the rate ``bound`` (None: no bound)."""
    tail = int(limit * TAIL_SHARE)
    return tail if bound is None else max(0, min(tail, bound - limit))


def extend(source: Source, partition: str, start: Position, end: Position,
           limit: int, tail: int = 0) -> Position:
    """``end`` moved over the source's next steps while the range holds at most ``limit``
    records (``Source.estimate``); a step that would pass the limit is not taken, unless
    the steps left then hold at most ``tail`` records in all: those are taken too."""
    taken = source.estimate(partition, start, end)
    if taken is None:
        return end
    end, _ = _steps(source, partition, end, taken, limit)
    if tail > 0:
        rest, _ = _steps(source, partition, end, 0, tail)
        if rest != end and source.plan(partition, rest, 1) == rest:  # nothing after it
            return rest
    return end


def _steps(source: Source, partition: str, end: Position, taken: int,
           limit: int) -> tuple[Position, int]:
    """``end`` and ``taken`` moved over whole steps while ``taken`` stays within ``limit``."""
    while taken < limit:
        step = source.plan(partition, end, limit - taken)
        if step == end:
            break
        more = source.estimate(partition, end, step)
        if more is None or taken + more > limit:
            break
        end, taken = step, taken + more
    return end, taken
