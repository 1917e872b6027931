"""retry(): backoff with full jitter, only for the errors named, stoppable."""

from __future__ import annotations

import threading

import pytest

from etlcore.plugin.retry import backoff, retry


class Flaky:
    def __init__(self, failures: int, error: type[Exception] = ConnectionError):
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "ok"


def test_backoff_is_jittered_below_an_exponential_cap():
    assert backoff(0, 0.1, 5.0, rng=lambda lo, hi: hi) == 0.1
    assert backoff(3, 0.1, 5.0, rng=lambda lo, hi: hi) == pytest.approx(0.8)
    assert backoff(30, 0.1, 5.0, rng=lambda lo, hi: hi) == 5.0
    assert backoff(1000, 0.1, 5.0, rng=lambda lo, hi: hi) == 5.0  # no overflow
    waits = {backoff(4, 0.1, 5.0) for _ in range(50)}
    assert len(waits) > 40 and all(0.0 <= w <= 1.6 for w in waits)


def test_retries_transient_errors_then_succeeds(caplog):
    slept: list[float] = []
    fn = Flaky(2)
    assert retry(fn, attempts=3, retry_on=ConnectionError, what="put", sleep=slept.append) == "ok"
    assert fn.calls == 3 and len(slept) == 2
    assert "put failed (ConnectionError: failure 1); retry 1/2" in caplog.text


def test_the_last_error_is_raised_with_the_attempts_noted():
    fn = Flaky(5)
    with pytest.raises(ConnectionError, match="failure 3") as err:
        retry(fn, attempts=3, retry_on=ConnectionError, sleep=lambda s: None)
    assert fn.calls == 3
    assert "gave up after 3 attempts" in err.value.__notes__[0]


def test_other_errors_are_not_retried():
    fn = Flaky(1, ValueError)
    with pytest.raises(ValueError):
        retry(fn, attempts=5, retry_on=(ConnectionError, TimeoutError), sleep=lambda s: None)
    assert fn.calls == 1


def test_a_predicate_picks_retryable_errors():
    fn = Flaky(2, OSError)
    assert retry(fn, retry_on=lambda e: "failure" in str(e), sleep=lambda s: None) == "ok"


def test_a_stop_event_ends_the_wait():
    stop = threading.Event()
    stop.set()
    fn = Flaky(5)
    with pytest.raises(ConnectionError) as err:
        retry(fn, attempts=5, base=60.0, retry_on=ConnectionError, stop=stop)
    assert fn.calls == 1 and "stopped while waiting" in err.value.__notes__[0]


def test_attempts_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        retry(lambda: 1, attempts=0)
