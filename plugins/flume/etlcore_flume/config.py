"""Config of the flume source, checked on the driver before anything binds a port.

Receivers are fixed for a checkpoint's life: each is a partition with its own
log, so ``ports`` (or ``port`` + ``receivers``) must not change between runs of
the same checkpoint. Delivery tuning (limits, compression) is
``identity=False``: changing it does not change what was received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from etlcore.config import option
from etlcore.errors import ConfigError

Format = Literal["text", "json", "bytes"]


@dataclass
class FlumeSourceConfig:
    port: int | None = option(None, help="port of the first receiver (0: any free port); "
                              "with 'receivers', the next ones take the following ports")
    ports: list[int] = option([], help="one receiver (and partition) per port; instead of port")
    receivers: int = option(1, help="with 'port': how many receivers on consecutive ports")
    host: str = option("127.0.0.1", help="interface to bind (0.0.0.0: every interface)")
    format: Format = option("text", help="how event bodies decode: text (utf-8), json, or "
                            "bytes (base64 text in the record)")
    compression: Literal["none", "deflate"] = option(
        "none", help="the agent avro sink's compression-type (deflate: the whole stream)",
        identity=False)
    max_unconsumed_bytes: int = option(
        256 << 20, help="logged but not yet committed bytes per receiver above which calls "
        "get FAILED (the agent backs off and resends)", identity=False)
    max_frame_bytes: int = option(64 << 20, help="a larger call closes its connection",
                                  identity=False)

    def receiver_ports(self) -> list[int]:
        if self.ports:
            return list(self.ports)
        assert self.port is not None
        if self.port == 0:
            return [0] * self.receivers
        return [self.port + i for i in range(self.receivers)]

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if self.ports and self.port is not None:
            raise ConfigError(f"{prefix}ports", "either 'ports' or 'port', not both", self.ports)
        if not self.ports and self.port is None:
            raise ConfigError(f"{prefix}port", "a TCP port (or give 'ports': a list)",
                              has_value=False)
        if not isinstance(self.ports, list):
            raise ConfigError(f"{prefix}ports", "a list of TCP ports", self.ports)
        for i, p in enumerate(self.ports):
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 65535:
                raise ConfigError(f"{prefix}ports[{i}]", "a TCP port 0-65535", p)
        taken = [p for p in self.ports if p]
        if len(set(taken)) != len(taken):
            raise ConfigError(f"{prefix}ports", "distinct ports (one receiver each)", self.ports)
        if self.port is not None and (isinstance(self.port, bool) or not 0 <= self.port <= 65535):
            raise ConfigError(f"{prefix}port", "a TCP port 0-65535", self.port)
        if self.receivers < 1 or (self.port and self.port + self.receivers - 1 > 65535):
            raise ConfigError(f"{prefix}receivers", "a positive count whose ports stay "
                              "below 65536", self.receivers)
        if self.ports and self.receivers != 1:
            raise ConfigError(f"{prefix}receivers", "1 with 'ports' (one receiver per port)",
                              self.receivers)
        if not self.host.strip():
            raise ConfigError(f"{prefix}host", "an interface address such as 127.0.0.1",
                              self.host)
        if self.max_unconsumed_bytes < 1:
            raise ConfigError(f"{prefix}max_unconsumed_bytes", "a positive number of bytes",
                              self.max_unconsumed_bytes)
        if self.max_frame_bytes < 1024:
            raise ConfigError(f"{prefix}max_frame_bytes", "at least 1024 bytes",
                              self.max_frame_bytes)
