"""What the Kafka source and sink share: client configs, secret hygiene, retries.

Used on both sides: by the driver's clients and by each worker's reader consumers.

``client_config`` is passed to librdkafka as is, so it is where SASL and TLS
credentials live. Every value whose key looks secret is masked wherever this
plugin prints a config or an error, because librdkafka's own messages may quote
the values they reject.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from etlcore.errors import ConfigError, EtlcoreError
from etlcore.plugin.imports import require_module

from etlcore_kafka.secrets import REDACTED, is_secret_key, mask, scrub

# Only the connector modules import this one, so registering the plugin and checking
# configs never load the client; a missing client is an error with the pip command.
require_module("confluent_kafka", "confluent-kafka>=2.3", feature="the kafka source and sink")
import confluent_kafka  # noqa: E402
from confluent_kafka import KafkaError, KafkaException  # noqa: E402

__all__ = [
    "REDACTED",
    "KafkaError",
    "KafkaException",
    "KafkaUnavailable",
    "client_conf",
    "confluent_kafka",
    "is_secret_key",
    "mask",
    "retry",
    "scrub",
    "watermarks",
]

log = logging.getLogger("etlcore.kafka")

# librdkafka codes that mean "the cluster is not reachable right now": wait, don't fail
_TRANSIENT = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._RESOLVE,
    KafkaError._WAIT_COORD,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NOT_COORDINATOR,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.UNSTABLE_OFFSET_COMMIT,
    KafkaError.CONCURRENT_TRANSACTIONS,
    KafkaError.NETWORK_EXCEPTION,
}

T = TypeVar("T")

_RECONNECT_BACKOFF_MS = 10  # librdkafka's default, 100, delays a new client's first request


class KafkaUnavailable(EtlcoreError):
    """The cluster stayed unreachable until the job was asked to stop."""


def client_conf(bootstrap: str, extra: Mapping[str, Any], fixed: Mapping[str, Any],
                where: str) -> dict[str, Any]:
    """librdkafka settings: ours, then the user's passthrough; refuse overriding ours.

    The keys in ``fixed`` carry the exactly-once protocol (no auto-commit,
    transactional ids, isolation), so a passthrough that contradicts one is a
    config error naming the key rather than a silent loss of guarantees.
    """
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.software.name": "etlcore-kafka"}
    for key, value in extra.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}.client_config", "string keys", type(key).__name__)
        if key in fixed and fixed[key] != value:
            raise ConfigError(f"{where}.client_config.{key}",
                              f"no override: etlcore-kafka sets it to {fixed[key]!r}",
                              has_value=False)
        conf[key] = value
    conf.update(fixed)
    # librdkafka waits reconnect.backoff.ms / 2 before it connects to the broker a
    # bootstrap metadata answer named, so every new client's first request took ~53 ms in
    # about one start in two (10 ms: 1-14 ms). The backoff still doubles per failed attempt
    # up to reconnect.backoff.max.ms, so an outage is not hammered.
    conf.setdefault("reconnect.backoff.ms", _RECONNECT_BACKOFF_MS)
    conf["logger"] = _ScrubbingLogger(conf)
    return conf


def build(factory: Callable[[dict[str, Any]], T], conf: dict[str, Any], where: str) -> T:
    """Create a client; a librdkafka config error becomes a ConfigError without secrets."""
    try:
        return factory(conf)
    except (KafkaException, ValueError, TypeError) as err:
        raise ConfigError(f"{where}.client_config", scrub(str(err), conf),
                          has_value=False) from None


def is_transient(err: BaseException) -> bool:
    """Whether ``err`` means "try again later" rather than "this will never work"."""
    if isinstance(err, KafkaException) and err.args and isinstance(err.args[0], KafkaError):
        kerr: KafkaError = err.args[0]
        if kerr.fatal() or kerr.txn_requires_abort():
            return False  # the caller must abort the transaction or give up, not repeat
        return kerr.code() in _TRANSIENT or kerr.retriable()
    return False


def retry(fn: Callable[[], T], what: str, stop: threading.Event | None,
          conf: Mapping[str, Any], *, first: float = 0.25, cap: float = 5.0) -> T:
    """Call ``fn`` until it succeeds, backing off while the cluster is unreachable.

    A broker restart must stall the job, not kill it: transient errors are
    logged once per attempt as a warning and retried with exponential backoff
    until ``stop`` is set. Other errors propagate at once.
    """
    delay = first
    attempt = 0
    while True:
        try:
            result = fn()
        except KafkaException as err:
            if not is_transient(err):
                raise
            attempt += 1
            if stop is not None and stop.is_set():
                raise KafkaUnavailable(f"{what}: Kafka unreachable, job stopping "
                                       f"({scrub(str(err), conf)})") from None
            log.warning("%s: Kafka at %s unreachable (%s); retry %d in %.1fs", what,
                        conf.get("bootstrap.servers"), scrub(str(err), conf), attempt, delay)
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
            delay = min(cap, delay * 2)
            continue
        if attempt:
            log.warning("%s: Kafka reachable again after %d retries", what, attempt)
        return result


def watermarks(consumer: Any, tp: Any, ask: Callable[[Callable[[], Any], str], Any], what: str,
               timeout: float, grace: float, pause: float,
               stop: threading.Event | None = None,
               warn: Callable[[], None] | None = None) -> tuple[int, int]:
    """``tp``'s low and high offsets through ``ask`` (the caller's :func:`retry`), waiting
    out a partition briefly unknown to the broker that answers (``_UNKNOWN_PARTITION``: a
    restarted broker until it has loaded, a topic just created until its metadata has
    spread) for up to ``grace`` seconds: every ``pause`` the topic is listed again, since
    librdkafka keeps the unknown answer cached until asked about the topic. ``stop`` set
    ends the wait; ``warn`` is called before each new ask."""
    give_up = time.monotonic() + grace
    while True:
        try:
            return ask(lambda: consumer.get_watermark_offsets(tp, timeout=timeout, cached=False),
                       what)
        except KafkaException as err:
            if err.args[0].code() != KafkaError._UNKNOWN_PARTITION or time.monotonic() > give_up:
                raise
            if stop.wait(pause) if stop is not None else time.sleep(pause):
                raise
            if warn is not None:
                warn()
            with contextlib.suppress(KafkaException):
                consumer.list_topics(tp.topic, timeout=timeout)


class _ScrubbingLogger(logging.LoggerAdapter):
    """librdkafka's log lines into ``etlcore.kafka.client``, secrets cut out."""

    def __init__(self, conf: Mapping[str, Any]):
        super().__init__(logging.getLogger("etlcore.kafka.client"), {})
        self._conf = conf

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "%s", scrub(text, self._conf))
