"""A push source fed by Flume agents' ``avro`` sinks: one receiver and partition per port.

Each receiver is an :class:`~etlcore_flume.server.AvroRpcServer`. A call's
events are decoded into records (``{"headers": {...}, "body": ...}``) and
written to that partition's write-ahead log (fsync) *before* the agent gets
``OK``; if they cannot be logged, or the log already holds more than
``max_unconsumed_bytes`` the job has not committed, the agent gets ``FAILED``
and keeps the events in its channel to resend them. An agent that resends a
batch whose ``OK`` was lost in a crash delivers it twice: the log is
at-least-once, and a job keyed on an event id gets exactly-once output.

    ctx.source("flume", ports=[41414, 41415], format="json")

Sides: servers, threads and logs live on the driver; workers read planned
ranges from the log files (:mod:`etlcore.plugin.receivers`).
"""

from __future__ import annotations

import base64
import logging
import ssl
import threading
import time
from array import array
from typing import Any

from etlcore.jsondecode import loads as json_loads
from etlcore.plugin.receivers import PartitionedReceiverSource
from etlcore.source import Rejected
from etlcore_flume.config import FlumeSourceConfig
from etlcore_flume.server import AvroRpcServer

log = logging.getLogger("etlcore.flume")

_WARN_EVERY = 5.0  # seconds between two backpressure warnings of a partition


def decode_event(event: dict[str, Any], fmt: str, origin: str) -> Any:
    """A record from a Flume event; a body ``fmt`` cannot decode becomes a dead letter."""
    body: bytes = event["body"]
    headers = event["headers"]
    if fmt == "bytes":
        return {"headers": headers, "body": base64.b64encode(body).decode("ascii")}
    try:
        text = body.decode("utf-8")
        value = json_loads(text) if fmt == "json" else text
    except UnicodeDecodeError as err:
        reason = f"body is not valid utf-8: {err.reason} at byte {err.start}"
    except ValueError as err:
        reason = f"body is not JSON: {err}"
    else:
        return {"headers": headers, "body": value}
    raw = body.decode("utf-8", errors="backslashreplace")
    return Rejected({"headers": headers, "body": raw}, reason, origin)


class FlumeSource(PartitionedReceiverSource):
    """Receives Flume events over Avro RPC; partition ``i`` is the i-th receiver's port."""

    def __init__(self, config: FlumeSourceConfig):
        self.config = config
        self.ports = config.receiver_ports()  # the bound ports once open (useful with 0)
        self.servers: list[AvroRpcServer] = []
        self._consumed: dict[str, int] = {}  # offsets before which a batch committed
        self._sizes: dict[str, array[int]] = {}  # memory logs: cumulative record bytes
        self._locks: dict[str, threading.Lock] = {}
        self._warned: dict[str, float] = {}
        self.failed_calls = 0  # calls answered FAILED (backpressure or a log error)

    def receiver_partitions(self) -> list[str]:
        return [str(i) for i in range(len(self.ports))]

    # -- receiving (driver, one thread per connection) ---------------------------------
    def start_receiving(self) -> None:
        self._sizes = {p: array("q") for p in self.logs}
        self._locks = {p: threading.Lock() for p in self.logs}
        for i, port in enumerate(list(self.ports)):
            partition = str(i)
            server = AvroRpcServer(
                self.config.host, port,
                lambda events, peer, p=partition: self._deliver(p, events, peer),
                compression=self.config.compression,
                max_frame_bytes=self.config.max_frame_bytes,
                name=f"flume-{partition}", stopping=self.stopping,
                ssl_context=self._ssl_context())
            try:
                server.start()
            except OSError as err:
                for started in self.servers:
                    started.stop()
                self.servers = []
                raise OSError(err.errno, f"flume source: receiver {partition} cannot listen "
                              f"on {self.config.host}:{port}: {err.strerror}") from err
            self.servers.append(server)
            self.ports[i] = server.port
        log.info("flume source listening on %s:%s", self.config.host,
                 ",".join(map(str, self.ports)))

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.ssl:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.config.ssl_certfile, self.config.ssl_keyfile or None,
                                self.config.ssl_key_password or None)
        return context

    def interrupt(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []

    def _deliver(self, partition: str, events: list[dict[str, Any]], peer: str) -> str:
        """Log a call's events; ``OK`` only once they are durable."""
        if not events:
            return "OK"
        backlog = self.unconsumed_bytes(partition)
        if backlog > self.config.max_unconsumed_bytes:
            self._backpressure(partition, backlog)
            return "FAILED"
        origin = f"from {peer} on port {self.ports[int(partition)]}"
        records = [decode_event(e, self.config.format, origin) for e in events]
        try:
            with self._locks[partition]:  # memory sizes and log offsets move together
                self.store(records, partition)
                sizes = self._sizes[partition]
                if self.logs[partition].path is None:
                    total = sizes[-1] if sizes else 0
                    for e in events:
                        total += len(e["body"]) + 16
                        sizes.append(total)
        except (OSError, ValueError) as err:  # ValueError: the log closed under us
            self.failed_calls += 1
            log.error("flume: cannot log %d events of partition %s (%s); the agent gets "
                      "FAILED and resends them", len(events), partition, err)
            return "FAILED"
        return "OK"

    def _backpressure(self, partition: str, backlog: int) -> None:
        self.failed_calls += 1
        now = time.monotonic()
        if now - self._warned.get(partition, 0.0) >= _WARN_EVERY:
            self._warned[partition] = now
            log.warning("flume: partition %s holds %d unconsumed bytes (max_unconsumed_bytes "
                        "%d): answering FAILED so the agent backs off", partition, backlog,
                        self.config.max_unconsumed_bytes)

    def unconsumed_bytes(self, partition: str) -> int:
        """Bytes logged for ``partition`` past the last committed batch."""
        done = self._consumed.get(partition, 0)
        receiver_log = self.logs[partition]
        if receiver_log.path is not None:
            index = receiver_log.index
            n = len(index)
            return 0 if done >= n else index.size - index.starts[done]
        sizes = self._sizes.get(partition)
        if not sizes or done >= len(sizes):
            return 0
        return sizes[-1] - (sizes[done - 1] if done else 0)

    # -- planning (driver) -----------------------------------------------------------------
    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        self._consumed[partition] = max(self._consumed.get(partition, 0), start)
        return super().plan(partition, start, max_records)

    def on_batch_committed(self, positions: dict[str, Any]) -> None:
        for partition, offset in positions.items():
            if isinstance(offset, int):
                self._consumed[partition] = max(self._consumed.get(partition, 0), offset)

    def close(self) -> None:
        super().close()
        self.servers = []
