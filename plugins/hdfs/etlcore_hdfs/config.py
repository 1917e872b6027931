"""Config schemas of the ``hdfs`` source and sink, checked on the driver before a job runs.

No client library is imported here, so ``etlcore plugins`` shows the settings
without HdfsCLI installed.

Paths are ``hdfs://host:port/path`` where ``port`` is the NameNode's **HTTP** port,
the one WebHDFS answers on (9870 by default in Hadoop 3; the default when the
URL has none). ``webhdfs://`` means the same.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from etlcore.config import option
from etlcore.connectors.directory import DirectorySourceConfig
from etlcore.connectors.files import FilesSinkConfig
from etlcore.errors import ConfigError

SCHEMES = ("hdfs", "webhdfs")
DEFAULT_PORT = 9870  # Hadoop 3's NameNode HTTP (WebHDFS) port
RPC_PORTS = {8020, 9000}  # the NameNode's usual RPC ports: not WebHDFS, a common mix-up


def split_url(url: str) -> tuple[str, str]:
    """``hdfs://host:port/a/b`` -> ``("host:port", "/a/b")`` (port defaulted)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise ValueError(f"not an hdfs://host:port/path URL: {url!r}")
    port = parts.port or DEFAULT_PORT
    return f"{parts.hostname}:{port}", parts.path or "/"


def default_user() -> str:
    """The user WebHDFS calls act as without Kerberos: ``HADOOP_USER_NAME``, else the login."""
    return os.environ.get("HADOOP_USER_NAME") or getpass.getuser()


@dataclass(kw_only=True)
class HdfsOptions:
    """How to reach HDFS; every field has a default."""

    user: str | None = option(None, help="the HDFS user calls act as (simple auth); default: "
                              "HADOOP_USER_NAME, else the login name", identity=False)
    https: bool = option(False, help="speak https to the NameNode (swebhdfs)", identity=False)
    retries: int = option(30, help="attempts of a call while HDFS is unreachable, in safe "
                          "mode or failing; exponential backoff with jitter, at most "
                          "retry_cap seconds apart", identity=False)
    retry_cap: float = option(2.0, help="longest wait between two attempts, in seconds",
                              identity=False)
    timeout: float = option(10.0, help="connect and read timeout of one request, in seconds",
                            identity=False)
    read_ahead: int = option(4, help="source: files fetched (and split into lines) at once "
                             "while one is parsed; each held in memory", identity=False)

    def check_hdfs(self, prefix: str, path: str) -> None:
        """Errors naming the key; ``prefix`` is ``where.`` or empty."""
        want = "an hdfs://host:port/path URL (port: the NameNode's WebHDFS port, e.g. 9870)"
        try:
            split_url(path)
            port = urlsplit(path).port
        except ValueError:
            raise ConfigError(f"{prefix}path", want, path) from None
        if port in RPC_PORTS:
            raise ConfigError(f"{prefix}path", f"{want}; {port} is the NameNode's RPC port, "
                              "which WebHDFS does not speak", path)
        if self.user is not None and not self.user.strip():
            raise ConfigError(f"{prefix}user", "a user name, or null for the default", self.user)
        for key in ("retries", "read_ahead"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{prefix}{key}", "an integer >= 1", getattr(self, key))
        for key in ("timeout", "retry_cap"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{prefix}{key}", "a positive number of seconds",
                                  getattr(self, key))


def options_of(config: Any) -> HdfsOptions:
    """The connection settings of a source or sink config."""
    names = [f.name for f in dataclasses.fields(HdfsOptions)]
    return HdfsOptions(**{n: getattr(config, n) for n in names})


@dataclass
class HdfsSourceConfig(DirectorySourceConfig, HdfsOptions):
    """The ``directory`` source's settings (``path`` is ``hdfs://host:port/dir``) and HDFS's."""

    def validate(self, where: str) -> None:
        super().validate(where)
        self.check_hdfs(f"{where}." if where else "", self.path)


@dataclass
class HdfsSinkConfig(FilesSinkConfig, HdfsOptions):
    """The ``files`` sink's settings (``path`` is ``hdfs://host:port/dir``) and HDFS's."""

    def validate(self, where: str) -> None:
        super().validate(where)
        self.check_hdfs(f"{where}." if where else "", self.path)
