"""Apache Kafka (KRaft, one combined broker+controller node) from Maven Central jars."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path

from .base import HarnessError, cache_root, env_port, recv_exact
from .maven import Artifact, MavenService

DEFAULT_VERSION = "3.9.1"
SLF4J_VERSION = "1.7.36"

LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
log4j.logger.state.change.logger=WARN
"""

JVM_OPTS = [
    "-Xmx512m",
    "-Xms128m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


def metadata_broker_count(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> int:
    """Send a Kafka Metadata v1 request (no topics) and return how many brokers it lists.

    Speaks the wire protocol directly so the harness needs no Kafka client library.
    """
    client_id = b"etlcore-svc"
    body = struct.pack(">hhih", 3, 1, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(sock, 4))[0]
        resp = recv_exact(sock, size)
    correlation, brokers = (int(v) for v in struct.unpack_from(">ii", resp, 0))
    if correlation != 7:
        raise HarnessError(f"kafka: unexpected correlation id {correlation}")
    return brokers


class Kafka(MavenService):
    name = "kafka"
    start_timeout = 120.0

    @property
    def version(self) -> str:
        return os.environ.get("ETLCORE_KAFKA_VERSION", DEFAULT_VERSION)

    def cache_dir(self) -> Path:
        return cache_root() / f"kafka-{self.version}"

    def ports(self) -> Mapping[str, int]:
        return {
            "broker": env_port("ETLCORE_KAFKA_PORT", 9092),
            "controller": env_port("ETLCORE_KAFKA_CONTROLLER_PORT", 9093),
        }

    def env(self) -> dict[str, str]:
        return {"ETLCORE_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.ports()['broker']}"}

    # ---- fetch ----------------------------------------------------------------------

    def artifacts(self) -> tuple[Artifact, ...]:
        return (Artifact("org.apache.kafka", "kafka_2.13", self.version),
                Artifact("org.slf4j", "slf4j-reload4j", SLF4J_VERSION))

    # ---- run ------------------------------------------------------------------------

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            "java",
            *JVM_OPTS,
            f"-Dlog4j.configuration=file:{self._conf / 'log4j.properties'}",
            "-cp",
            f"{self._conf}:{self.lib_dir}/*",
            main,
            *args,
        ]

    def server_properties(self) -> str:
        broker, controller = self.ports()["broker"], self.ports()["controller"]
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{broker},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._data),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.num.partitions": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A SIGKILLed broker's registration must expire before its successor registers:
            # a short session makes crash-restarts take seconds, not the default ~9 s more.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.cleaner.dedupe.buffer.size": str(32 * 2**20),
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def prepare(self) -> None:
        self._conf.mkdir(parents=True, exist_ok=True)
        (self._conf / "log4j.properties").write_text(LOG4J)
        (self._conf / "server.properties").write_text(self.server_properties())
        if (self._data / "meta.properties").exists():
            return
        self._data.mkdir(parents=True, exist_ok=True)
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        argv = self._java(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self._conf / "server.properties"),
            "--ignore-formatted",
        )
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HarnessError(
                f"kafka: storage format failed (exit {proc.returncode}):\n"
                + (proc.stdout + proc.stderr)[-4000:]
            )

    def command(self) -> list[str]:
        return self._java("kafka.Kafka", str(self._conf / "server.properties"))

    def ready(self) -> bool:
        return metadata_broker_count(self.ports()["broker"]) >= 1
