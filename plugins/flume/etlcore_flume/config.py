"""Config of the flume source, checked on the driver before anything binds a port.

Receivers are fixed for a checkpoint's life: each is a partition with its own
log, so ``ports`` (or ``port`` + ``receivers``) must not change between runs of
the same checkpoint. Delivery tuning (limits, compression) is
``identity=False``: changing it does not change what was received.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from typing import Literal

from etlcore.config import option, secret
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
    ssl: bool = option(False, help="TLS, as the agent avro sink's ssl = true", identity=False)
    ssl_certfile: str = option("", help="with ssl: the server certificate chain (PEM)",
                               identity=False)
    ssl_keyfile: str = option("", help="with ssl: its private key (PEM; default: in the "
                              "certfile)", identity=False)
    ssl_key_password: str = secret("", help="with ssl: the private key's password, if any")

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
        if self.ssl and not self.ssl_certfile:
            raise ConfigError(f"{prefix}ssl_certfile", "a PEM certificate file when ssl is true",
                              has_value=False)
        for key in ("ssl_certfile", "ssl_keyfile"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                raise ConfigError(f"{prefix}{key}", "an existing PEM file", path)
        if self.ssl:
            self._check_certificate(prefix)
        if self.max_frame_bytes < 1024:
            raise ConfigError(f"{prefix}max_frame_bytes", "at least 1024 bytes",
                              self.max_frame_bytes)

    def _check_certificate(self, prefix: str) -> None:
        """Load the certificate and key now, so a bad pair fails before the job runs."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile or None,
                                    self.ssl_key_password or None)
        except (ssl.SSLError, OSError) as err:
            key = "ssl_keyfile" if self.ssl_keyfile else "ssl_certfile"
            raise ConfigError(f"{prefix}{key}", "a PEM certificate chain and private key that "
                              f"load with ssl_key_password ({type(err).__name__}: "
                              f"{getattr(err, 'reason', None) or err.args[-1]})",
                              has_value=False) from None
