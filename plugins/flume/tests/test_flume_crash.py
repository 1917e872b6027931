"""Exactly once through SIGKILLs: two Flume agents keep sending while the job is killed.

Each agent (a ``seq`` source: bodies 0..N-1, a static ``agent`` header; one
with a memory channel, one with a file channel) delivers to its own receiver port. The job is SIGKILLed 21 times, mostly right after a
receiver logged new events (so calls are cut mid-stream) and sometimes during
startup; the agents retry every call that did not get ``OK``. At the end every
event of both agents is in the output exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flume_testlib import (
    free_ports,
    logged_records,
    output_counts,
    spawn_job,
    stop_job,
    tagged,
    wait_until,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

KILLS = 21
EVENTS = 30000  # per agent: enough that the agents still send at the last kill


def test_every_event_once_across_sigkills(flume_agent: Callable[..., Any], tmp_path: Path
                                          ) -> None:
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    ports = free_ports(2)
    ckpt, out, log = tmp_path / "ckpt", tmp_path / "out", tmp_path / "job.log"
    agents = [flume_agent(**tagged(name, port=port, events=EVENTS, batch_size=20,
                                   channel=channel))
              for name, port, channel in zip("AB", ports, ("memory", "file"), strict=True)]
    kills = mid_stream = 0
    while kills < KILLS:
        before = logged_records(ckpt)
        job = spawn_job(ckpt, out, ports, log)
        if rng.random() < 0.75:  # after the receivers logged something new: calls in flight
            mid_stream += wait_until(lambda b=before: logged_records(ckpt) > b, 30, 0.02)
            time.sleep(rng.uniform(0.0, 0.1))
        else:  # during startup or recovery
            time.sleep(rng.uniform(0.1, 1.0))
        assert job.poll() is None, f"job exited early:\n{log.read_text()[-4000:]}"
        os.kill(job.pid, signal.SIGKILL)
        job.wait()
        kills += 1
    expected = {f"{name}:{i}" for name in "AB" for i in range(EVENTS)}
    at_last_kill = logged_records(ckpt)
    assert at_last_kill < len(expected), "the agents had sent everything before the last kill"
    job = spawn_job(ckpt, out, ports, log)
    done = wait_until(lambda: len(output_counts(out)) >= len(expected), 300, 0.5)
    stop_job(job, out, log)
    counts = output_counts(out)
    twice = [line for line, c in counts.items() if c > 1]
    assert not twice, f"events written twice: {twice[:10]}"
    missing = sorted(expected - set(counts))
    assert done and not missing, (f"{len(missing)} events missing, e.g. {missing[:10]}; "
                                  f"agent log:\n{agents[0].tail()}")
    assert set(counts) == expected
    errors = sum(a.log().count("Unable to deliver event") for a in agents)
    print(f"{kills} kills ({mid_stream} mid-stream), {at_last_kill} records logged before the "
          f"last one, {logged_records(ckpt)} records logged in all "
          f"for {len(expected)} events, {errors} failed deliveries the agents retried")
    assert mid_stream >= KILLS // 2
    assert errors >= KILLS // 2  # the kills really cut the agents' calls
