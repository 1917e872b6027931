"""The ``twitter`` source: the X API v2 filtered stream, made replayable by a receiver log.

One receiver thread on the driver syncs the rules, holds the stream open and
reconnects with the documented backoff; a store thread appends what it decoded
to the write-ahead log, one fsync per group (one per line caps a stream at the
disk's fsync rate). A tweet counts as received once stored; a tweet id already
stored or queued (a redelivery after a reconnect, or ``backfill_minutes``) is
dropped. Batches are planned over log offsets and read from the log file on
any worker (:class:`etlcore.plugin.receivers.PartitionedReceiverSource`).

Records are the stream's objects as sent: ``{"data": {...}, "includes": {...},
"matching_rules": [...]}``. A 401/403 (or rules the API refuses) stops the
receiver and fails the job at its next batch with the API's title and detail.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

from etlcore.plugin.receivers import PartitionedReceiverSource
from etlcore.plugin.redact import RedactedRepr
from etlcore.source import SourceContext
from etlcore_twitter.backoff import Backoff, Kind
from etlcore_twitter.client import NetworkError, TwitterClient
from etlcore_twitter.config import TwitterSourceConfig
from etlcore_twitter.lines import Notice, RecentIds, decode_line, tweet_id
from etlcore_twitter.problems import RetryableHttpError, TwitterError

log = logging.getLogger("etlcore_twitter")


class TwitterSource(RedactedRepr, PartitionedReceiverSource):
    """Receives the filtered stream into partition ``"0"``'s write-ahead log."""

    def __init__(self, config: TwitterSourceConfig):
        self.config = config
        self.name = "twitter"
        self.connections = 0  # streams opened (tests read it)
        self.duplicates = 0  # redeliveries dropped by id
        self.rules_synced = threading.Event()
        self._fatal: TwitterError | None = None
        self._response: Any = None
        self._queued = threading.Condition()
        self._pending: list[Any] = []  # decoded, not yet stored
        self._pending_ids: set[str] = set()

    def open(self, ctx: SourceContext) -> None:
        self.name = ctx.name
        super().open(ctx)

    def start_receiving(self) -> None:
        self.recent = RecentIds(self.config.dedup_ids)
        log0 = self.logs["0"]
        n = len(log0)
        self.recent.add(i for i in map(tweet_id, log0.read(max(0, n - self.config.dedup_ids), n))
                        if i is not None)
        super().start_receiving()
        self.spawn(self._store_loop, f"{type(self).__name__}-store")

    # -- the driver asks -------------------------------------------------------------------
    def available(self, partition: str) -> int:
        if self._fatal is not None:
            raise self._fatal
        return super().available(partition)

    def interrupt(self) -> None:
        """Shut the stream's socket so a blocked read returns now, not after stall_timeout."""
        resp = self._response
        sock = getattr(getattr(getattr(resp, "raw", None), "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- the receiver thread -----------------------------------------------------------------
    def receive(self, partition: str) -> None:
        c = self.config
        backoff = Backoff(c.network_backoff, c.network_backoff_cap, c.http_backoff,
                          c.http_backoff_cap, c.rate_limit_backoff, c.rate_limit_backoff_cap)
        client = TwitterClient(c, self.name)
        try:
            self._receive(client, backoff)
        except TwitterError as err:
            self._fatal = err
            log.error("%s", err)
        except Exception as err:  # noqa: BLE001 - a bug must fail the job, not hide
            self._fatal = TwitterError(client.redact(
                f"twitter source '{self.name}': receiver failed: {type(err).__name__}: {err}"))
            log.exception("twitter source '%s': receiver failed", self.name)
        finally:
            client.close()

    def _receive(self, client: TwitterClient, backoff: Backoff) -> None:
        while not self.stopping():
            kind: Kind = "network"
            why = ""
            try:
                if self.config.sync_rules and not self.rules_synced.is_set():
                    added, deleted = client.sync_rules(self.config.desired_rules())
                    log.info("twitter source '%s': rules synced (%d added, %d deleted)",
                             self.name, len(added), len(deleted))
                    self.rules_synced.set()
                self._stream(client, backoff)
                if self.stopping():
                    return
                why = "the stream ended"
            except RetryableHttpError as err:
                kind = "rate_limit" if err.problem.status == 429 else "http"
                why = err.problem.summary
            except NetworkError as err:
                if self.stopping():
                    return
                why = client.redact(f"network error or {self.config.stall_timeout:g} s of "
                                    f"silence ({type(err).__name__}: {err})")
            wait = backoff.next(kind)
            log.warning("twitter source '%s': %s; reconnecting in %.2f s (%s backoff)",
                        self.name, why, wait, kind)
            if self.wait(wait):
                return

    def _stream(self, client: TwitterClient, backoff: Backoff) -> None:
        """Read one connection until it ends; its first line resets the backoff."""
        resp = client.connect()
        self._response = resp
        self.connections += 1
        conn = self.connections
        delivered, tail, line_no = False, b"", 0
        try:
            for chunk in resp.iter_content(chunk_size=None):
                if self.stopping():
                    return
                *lines, tail = (tail + chunk).split(b"\n")
                records: list[Any] = []
                for line in lines:
                    line_no += 1
                    item = decode_line(line, f"connection {conn}, line {line_no}")
                    if not delivered:  # keep-alives prove the stream is live too
                        delivered = True
                        backoff.reset()
                    if item is None:
                        continue
                    if isinstance(item, Notice):
                        log.warning("twitter source '%s': stream notice: %s", self.name,
                                    item.text)
                        continue
                    records.append(item)
                if records:
                    self._enqueue(records)
        finally:
            self._response = None
            resp.close()
        # an unfinished tail is dropped: the API redelivers it (backfill_minutes)

    # -- group commit: the store thread ----------------------------------------------------------
    def _enqueue(self, records: list[Any]) -> None:
        """Queue decoded lines for the store thread, dropping ids already stored or queued."""
        with self._queued:
            for record in records:
                tid = tweet_id(record)
                if tid is not None:
                    if tid in self.recent or tid in self._pending_ids:
                        self.duplicates += 1
                        continue
                    self._pending_ids.add(tid)
                self._pending.append(record)
            self._queued.notify()

    def _store_loop(self) -> None:
        """Store what the receiver queued, all of it per fsync; a failure fails the job."""
        try:
            self._store_queued()
        except Exception as err:  # noqa: BLE001 - a full disk must stop the job, not hide
            self._fatal = TwitterError(f"twitter source '{self.name}': storing received "
                                       f"tweets failed: {type(err).__name__}: {err}")
            log.exception("twitter source '%s': the store thread failed", self.name)
            self._stop.set()

    def _store_queued(self) -> None:
        """A tweet counts as received (its id joins ``recent``) once stored; what is queued
        when the process dies was never stored, and ``backfill_minutes`` brings it again."""
        while True:
            with self._queued:
                if not self._pending:
                    if self.stopping():
                        return
                    self._queued.wait(0.1)
                records, self._pending = self._pending, []
            if not records:
                continue
            self.store(records)
            ids = [tid for tid in map(tweet_id, records) if tid is not None]
            with self._queued:
                self.recent.add(ids)
                self._pending_ids.difference_update(ids)
