"""Apache Flume 1.11 agents from Maven Central jars.

A Flume agent listens on nothing: its ``avro`` sink is a *client* of the
server under test. So besides the :class:`Flume` service (fetch, and a default
agent sending to ``ETLCORE_FLUME_TARGET_PORT``), :class:`FlumeAgent` launches
an agent for one test's config (target port, event count, source and channel
type) in its own directory, and stops or SIGKILLs it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .base import HarnessError, Service, cache_root, env_port, port_open
from .maven import Artifact, fetch_jars, jars_fetched

VERSION = "1.11.0"
LOG4J_VERSION = "2.18.0"
HEAP = "-Xmx256m"

LOG4J2 = """\
<Configuration status="warn">
  <Appenders><Console name="out" target="SYSTEM_OUT"><PatternLayout
    pattern="%d{ISO8601} %-5p [%t] %c{1}: %m%n"/></Console></Appenders>
  <Loggers><Root level="INFO"><AppenderRef ref="out"/></Root></Loggers>
</Configuration>
"""

#: the agent logs this once its avro sink is configured and running
SINK_STARTED = "Component type: SINK, name: k1 started"


def lib_dir() -> Path:
    return cache_root() / f"flume-{VERSION}" / "lib"


@dataclass
class AgentConfig:
    """One agent: a source (``seq`` numbers 0..events-1, or ``netcat`` lines), a channel,
    and an avro sink delivering to ``127.0.0.1:port``."""

    port: int
    events: int = 1000
    source: str = "seq"  # "seq" or "netcat"
    netcat_port: int = 0  # netcat source: where it listens
    channel: str = "memory"  # "memory" or "file"
    batch_size: int = 100
    compression: str | None = None  # "deflate"
    ssl: bool = False  # TLS to the target, trusting any certificate (a test's self-signed one)
    request_timeout_ms: int = 5000
    connect_timeout_ms: int = 5000
    extra: dict[str, str] = field(default_factory=dict)  # more agent properties

    def properties(self, data: Path) -> str:
        props = {
            "a1.sources": "s1", "a1.channels": "c1", "a1.sinks": "k1",
            "a1.sources.s1.channels": "c1",
            "a1.sinks.k1.type": "avro", "a1.sinks.k1.channel": "c1",
            "a1.sinks.k1.hostname": "127.0.0.1", "a1.sinks.k1.port": str(self.port),
            "a1.sinks.k1.batch-size": str(self.batch_size),
            "a1.sinks.k1.connect-timeout": str(self.connect_timeout_ms),
            "a1.sinks.k1.request-timeout": str(self.request_timeout_ms),
        }
        if self.source == "seq":
            props |= {"a1.sources.s1.type": "seq", "a1.sources.s1.totalEvents": str(self.events),
                      "a1.sources.s1.batchSize": str(self.batch_size)}
        elif self.source == "netcat":
            props |= {"a1.sources.s1.type": "netcat", "a1.sources.s1.bind": "127.0.0.1",
                      "a1.sources.s1.port": str(self.netcat_port),
                      "a1.sources.s1.max-line-length": "65536",
                      "a1.sources.s1.ack-every-event": "false"}
        else:
            raise HarnessError(f"flume agent: source {self.source!r}: expected seq or netcat")
        capacity = max(10000, self.batch_size * 10)
        if self.channel == "memory":
            props |= {"a1.channels.c1.type": "memory",
                      "a1.channels.c1.capacity": str(max(capacity, self.events + 1)),
                      "a1.channels.c1.transactionCapacity": str(self.batch_size * 10)}
        elif self.channel == "file":
            props |= {"a1.channels.c1.type": "file",
                      "a1.channels.c1.checkpointDir": str(data / "checkpoint"),
                      "a1.channels.c1.dataDirs": str(data / "data"),
                      "a1.channels.c1.capacity": str(max(capacity, self.events + 1)),
                      "a1.channels.c1.transactionCapacity": str(self.batch_size * 10)}
        else:
            raise HarnessError(f"flume agent: channel {self.channel!r}: expected memory or file")
        if self.compression:
            props |= {"a1.sinks.k1.compression-type": self.compression,
                      "a1.sinks.k1.compression-level": "6"}
        if self.ssl:
            props |= {"a1.sinks.k1.ssl": "true", "a1.sinks.k1.trust-all-certs": "true"}
        props |= self.extra
        return "".join(f"{k} = {v}\n" for k, v in props.items())


def agent_command(conf: Path) -> list[str]:
    """The java command running agent ``a1`` of ``conf/agent.conf``."""
    return ["java", "-Xms64m", HEAP, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j.configurationFile={conf / 'log4j2.xml'}",
            "-cp", f"{conf}:{lib_dir()}/*", "org.apache.flume.node.Application",
            "-n", "a1", "-f", str(conf / "agent.conf"), "--no-reload-conf"]


class FlumeAgent:
    """A Flume agent process for one test's config, in ``folder`` (conf, data, log)."""

    def __init__(self, config: AgentConfig, folder: Path):
        if not (lib_dir() / ".complete").exists():
            raise HarnessError("flume: not fetched; run `python scripts/services/svc.py "
                               "fetch flume`")
        self.config = config
        self.folder = folder
        self.conf = folder / "conf"
        self.log_path = folder / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FlumeAgent:
        self.conf.mkdir(parents=True, exist_ok=True)
        (self.conf / "log4j2.xml").write_text(LOG4J2)
        (self.conf / "agent.conf").write_text(self.config.properties(self.folder / "data"))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(agent_command(self.conf), cwd=self.folder,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_log(self, text: str, timeout: float = 60.0) -> bool:
        """Wait until the agent logged ``text`` (False on timeout or exit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            if not self.alive():
                return text in self.log()
            time.sleep(0.1)
        return False

    def wait_started(self, timeout: float = 60.0) -> FlumeAgent:
        """Wait until the avro sink runs (and a netcat source listens); raise if it does not."""
        if not self.wait_log(SINK_STARTED, timeout):
            raise HarnessError(f"flume agent in {self.folder} did not start its sink within "
                               f"{timeout:.0f}s:\n{self.tail()}")
        if self.config.source == "netcat":
            deadline = time.monotonic() + timeout
            while not port_open(self.config.netcat_port):
                if time.monotonic() > deadline or not self.alive():
                    raise HarnessError(f"flume agent netcat source not listening on "
                                       f"{self.config.netcat_port}:\n{self.tail()}")
                time.sleep(0.1)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (the agent flushes its channel state), SIGKILL if it lingers."""
        if self.proc is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._signal(signal.SIGKILL)  # stragglers in the group

    def kill(self) -> None:
        """SIGKILL, as if the machine died."""
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        self.proc.wait(30)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


class Flume(Service):
    """Flume's jars, and a default agent (seq source) sending to the target port."""

    name = "flume"
    start_timeout = 60.0
    stop_timeout = 10.0

    def cache_dir(self) -> Path:
        return cache_root() / f"flume-{VERSION}"

    def ports(self) -> Mapping[str, int]:
        return {}  # the agent binds nothing; it connects to the target below

    def target_port(self) -> int:
        return env_port("ETLCORE_FLUME_TARGET_PORT", 41414)

    def env(self) -> dict[str, str]:
        return {"ETLCORE_FLUME_LIB": str(lib_dir()),
                "ETLCORE_FLUME_TARGET_PORT": str(self.target_port())}

    def fetched(self) -> bool:
        return jars_fetched(lib_dir())

    def fetch(self) -> None:
        deps = [Artifact("org.apache.flume", "flume-ng-node", VERSION),
                Artifact("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
                Artifact("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION)]
        fetch_jars(self.name, self.cache_dir(), deps, VERSION)

    def prepare(self) -> None:
        conf = self.state_dir() / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "log4j2.xml").write_text(LOG4J2)
        events = int(os.environ.get("ETLCORE_FLUME_EVENTS", "1000"))
        config = AgentConfig(port=self.target_port(), events=events)
        (conf / "agent.conf").write_text(config.properties(self.state_dir() / "data"))

    def command(self) -> list[str]:
        return agent_command(self.state_dir() / "conf")

    def ready(self) -> bool:
        """The agent has started its avro sink (it retries the target until it answers)."""
        try:
            return SINK_STARTED in self.log_path.read_text(errors="replace")
        except OSError:
            return False
