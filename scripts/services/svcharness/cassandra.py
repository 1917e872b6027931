"""Apache Cassandra 5.0.x (one node) from Maven Central jars, CQL on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Mapping
from pathlib import Path

from .base import HarnessError, cache_root, env_port, recv_exact
from .maven import Artifact, MavenService

#: a Maven version range: the partial mirror here holds 5.0.9 (see /work/shared/SERVICES.md)
DEFAULT_VERSION = "[5.0.0,5.1.0)"
HEAP = "512m"

CASSANDRA_YAML = """\
cluster_name: etlcore-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage}
native_transport_port: {cql}
start_native_transport: true
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage}"
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories: [{state}/data]
commitlog_directory: {state}/commitlog
saved_caches_directory: {state}/saved_caches
hints_directory: {state}/hints
cdc_raw_directory: {state}/cdc_raw
auto_snapshot: false
"""

LOGBACK = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""

# From Cassandra's jvm17-server.options (the flag set SERVICES.md ran).
JVM17 = [
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
]  # fmt: skip


def cql_ready(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Send a CQL v4 OPTIONS frame and check for a SUPPORTED answer.

    Speaks the native protocol directly so the harness needs no driver; the CQL port
    only opens once the node finished starting (``Starting listening for CQL clients``).
    """
    frame = struct.pack(">BBhBi", 0x04, 0, 1, 0x05, 0)  # v4 request, stream 1, OPTIONS
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(frame)
            head = recv_exact(sock, 9)
    except OSError:  # ConnectionError too: closed before a whole header
        return False
    return head[0] == 0x84 and head[4] == 0x06  # v4 response, SUPPORTED


class Cassandra(MavenService):
    name = "cassandra"
    start_timeout = 120.0
    stop_timeout = 30.0

    @property
    def version(self) -> str:
        return os.environ.get("ETLCORE_CASSANDRA_VERSION", DEFAULT_VERSION)

    def cache_dir(self) -> Path:
        tag = "".join(c if c.isalnum() or c == "." else "_" for c in self.version).strip("_")
        return cache_root() / f"cassandra-{tag}"

    def ports(self) -> Mapping[str, int]:
        return {
            "cql": env_port("ETLCORE_CASSANDRA_PORT", 9042),
            "storage": env_port("ETLCORE_CASSANDRA_STORAGE_PORT", 7000),
        }

    def env(self) -> dict[str, str]:
        return {"ETLCORE_CASSANDRA_CONTACT": f"127.0.0.1:{self.ports()['cql']}"}

    # ---- fetch ----------------------------------------------------------------------

    def artifacts(self) -> list[Artifact]:
        return [Artifact("org.apache.cassandra", "cassandra-all", self.version)]

    def check_jars(self, lib: Path) -> None:
        """A version range can resolve to a release the mirror lacks: fail rather than keep
        it."""
        if not list(lib.glob("cassandra-all-*.jar")) or not list(lib.glob("jamm-*.jar")):
            raise HarnessError(f"cassandra: no cassandra-all or jamm jar in {lib}")

    # ---- run ------------------------------------------------------------------------

    def prepare(self) -> None:
        self._conf.mkdir(parents=True, exist_ok=True)
        state = self.state_dir().resolve()
        ports = self.ports()
        (self._conf / "cassandra.yaml").write_text(
            CASSANDRA_YAML.format(storage=ports["storage"], cql=ports["cql"], state=state)
        )
        (self._conf / "logback.xml").write_text(LOGBACK)
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs"):
            (state / sub).mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        jamm = sorted(self.lib_dir.glob("jamm-*.jar"))
        if not jamm:
            raise HarnessError(f"cassandra: no jamm jar in {self.lib_dir}; fetch again")
        state = self.state_dir().resolve()
        return [
            "java",
            f"-Xms{HEAP}",
            f"-Xmx{HEAP}",
            "-Xss256k",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            f"-javaagent:{jamm[-1]}",
            "-Djdk.attach.allowAttachSelf=true",
            "-Djava.net.preferIPv4Stack=true",
            *JVM17,
            "-Dio.netty.tryReflectionSetAccessible=true",
            f"-Dcassandra.config=file://{self._conf / 'cassandra.yaml'}",
            f"-Dlogback.configurationFile={self._conf / 'logback.xml'}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.storagedir={state}",
            f"-Dcassandra.logdir={state / 'logs'}",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-Dcassandra.initial_token=0",
            "-cp",
            f"{self._conf}:{self.lib_dir}/*",
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def ready(self) -> bool:
        return cql_ready(self.ports()["cql"])
