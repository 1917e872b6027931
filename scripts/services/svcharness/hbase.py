"""Apache HBase 2.6.1 standalone (master + region server + ZooKeeper in one JVM) and its
Thrift v1 gateway (a second JVM), from Maven Central jars.

The HMaster is the service's main process (``pid.json``, ``logs/current.log``). Once it
logged ``Master has completed initialization`` the Thrift server is launched in its own
process group (``thrift.json``, ``logs/thrift.log``); the service is ready when a happybase
``tables()`` call through Thrift succeeds. Stop ends Thrift, then the master. A test can
stop and start Thrift alone (:meth:`HBase.stop_thrift`, :meth:`HBase.start_thrift`) to
make the store unreachable for a while without the master's longer restart.

Only plain ``2.6.1`` is on the Maven mirror reachable here (no ``-hadoop3`` build of
``hbase-thrift``), which brings Hadoop 2.10.2 client jars: fine for a standalone master on
the local filesystem under Java 17.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from .base import (
    HarnessError,
    Status,
    _proc_start_ticks,
    _reap,
    cache_root,
    env_port,
    port_open,
    rss_bytes,
)
from .maven import Artifact, MavenService

VERSION = "2.6.1"
LOG4J2_VERSION = "2.24.3"
MASTER_READY = "Master has completed initialization"

#: HBase pulls in reload4j (log4j 1) logging; the servers log through log4j2 instead
_EXCLUDE_RELOAD4J = (("ch.qos.reload4j", "reload4j"), ("org.slf4j", "slf4j-reload4j"))

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_OUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c{2}: %m%n
rootLogger = INFO,console
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
logger.hadoop.name = org.apache.hadoop.hbase.thirdparty
logger.hadoop.level = WARN
"""

JAVA17 = [
    "--add-modules", "jdk.unsupported",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-exports", "java.base/sun.net.dns=ALL-UNNAMED",
    "--add-exports", "java.base/sun.net.util=ALL-UNNAMED",
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
]
MASTER_HEAP = ["-Xms256m", "-Xmx768m"]
THRIFT_HEAP = ["-Xms128m", "-Xmx256m"]


class HBase(MavenService):
    name = "hbase"
    start_timeout = 180.0

    @property
    def version(self) -> str:
        return os.environ.get("ETLCORE_HBASE_VERSION", VERSION)

    def cache_dir(self) -> Path:
        return cache_root() / f"hbase-{self.version}"

    def ports(self) -> Mapping[str, int]:
        return {
            "thrift": env_port("ETLCORE_HBASE_THRIFT_PORT", 9090),
            "zookeeper": env_port("ETLCORE_HBASE_ZK_PORT", 2181),
            "master": env_port("ETLCORE_HBASE_MASTER_PORT", 16000),
            "regionserver": env_port("ETLCORE_HBASE_RS_PORT", 16020),
        }

    def env(self) -> dict[str, str]:
        return {
            "ETLCORE_HBASE_HOST": "127.0.0.1",
            "ETLCORE_HBASE_PORT": str(self.ports()["thrift"]),
        }

    # ---- fetch ----------------------------------------------------------------------

    def artifacts(self) -> list[Artifact]:
        hbase = [Artifact("org.apache.hbase", name, self.version, _EXCLUDE_RELOAD4J)
                 for name in ("hbase-server", "hbase-thrift")]
        log4j = [Artifact("org.apache.logging.log4j", name, LOG4J2_VERSION)
                 for name in ("log4j-core", "log4j-slf4j-impl", "log4j-1.2-api")]
        return [*hbase, *log4j]

    # ---- run ------------------------------------------------------------------------

    def site_xml(self) -> str:
        state, ports = self.state_dir(), self.ports()
        props = {
            "hbase.cluster.distributed": "false",
            "hbase.rootdir": f"file://{state / 'root'}",
            "hbase.tmp.dir": str(state / "tmp"),
            "hbase.zookeeper.property.dataDir": str(state / "zk"),
            "hbase.zookeeper.quorum": "127.0.0.1",
            "hbase.zookeeper.property.clientPort": str(ports["zookeeper"]),
            "hbase.unsafe.stream.capability.enforce": "false",
            "hbase.master.ipc.address": "127.0.0.1",
            "hbase.regionserver.ipc.address": "127.0.0.1",
            "hbase.master.port": str(ports["master"]),
            "hbase.regionserver.port": str(ports["regionserver"]),
            "hbase.master.hostname": "localhost",
            "hbase.unsafe.regionserver.hostname": "localhost",
            "hbase.master.info.port": "-1",
            "hbase.regionserver.info.port": "-1",
            "hbase.thrift.info.port": "-1",
        }
        body = "".join(
            f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items()
        )
        return f'<?xml version="1.0"?>\n<configuration>\n{body}</configuration>\n'

    def prepare(self) -> None:
        self._stop_thrift()  # a Thrift server left over from an earlier master goes first
        self._conf.mkdir(parents=True, exist_ok=True)
        (self._conf / "hbase-site.xml").write_text(self.site_xml())
        (self._conf / "log4j2.properties").write_text(LOG4J2)
        for sub in ("root", "tmp", "zk", "logs"):
            (self.state_dir() / sub).mkdir(parents=True, exist_ok=True)

    def _java(self, heap: list[str], main: str, *args: str) -> list[str]:
        return [
            "java",
            *heap,
            *JAVA17,
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j2.configurationFile=file:{self._conf / 'log4j2.properties'}",
            f"-Dhbase.log.dir={self.log_dir}",
            "-cp",
            f"{self._conf}:{self.lib_dir}/*",
            main,
            *args,
        ]

    def command(self) -> list[str]:
        return self._java(MASTER_HEAP, "org.apache.hadoop.hbase.master.HMaster", "start")

    def ready(self) -> bool:
        if self.thrift_pid() is None:
            return False
        import happybase  # the client tests use; only needed once a server runs

        conn = happybase.Connection(
            "127.0.0.1", self.ports()["thrift"], timeout=5000, autoconnect=False
        )
        try:
            conn.open()
            conn.tables()
            return True
        finally:
            conn.close()

    def _master_initialized(self) -> bool:
        try:
            with open(self.log_path, "rb") as log:
                return MASTER_READY.encode() in log.read()
        except OSError:
            return False

    def _wait_ready(
        self, pid: int, timeout: float, poll: Callable[[], int | None] | None = None
    ) -> bool:
        """Wait for the master's initialization, launch Thrift, then wait for tables()."""
        deadline = time.monotonic() + timeout
        if not self._wait_until(self._master_initialized, pid, deadline, poll):
            return False
        if self.thrift_pid() is None:
            self._launch_thrift()
        if super()._wait_ready(pid, max(0.0, deadline - time.monotonic()), poll):
            return True
        if _proc_start_ticks(pid) is None:  # the master died: no orphaned Thrift server
            self._stop_thrift(kill=True)
        return False

    # ---- thrift ---------------------------------------------------------------------

    @property
    def _thrift_pid_path(self) -> Path:
        return self.state_dir() / "thrift.json"

    @property
    def thrift_log(self) -> Path:
        return self.log_dir / "thrift.log"

    def thrift_pid(self) -> int | None:
        """The pid of the Thrift server if that very JVM is alive, else None."""
        try:
            rec = json.loads(self._thrift_pid_path.read_text())
            pid, ticks = int(rec["pid"]), int(rec["start_ticks"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        _reap(pid)
        return pid if _proc_start_ticks(pid) == ticks else None

    def _launch_thrift(self) -> None:
        port = self.ports()["thrift"]
        if port_open(port):
            raise HarnessError(f"hbase: thrift port {port} is in use by another process")
        argv = self._java(
            THRIFT_HEAP,
            "org.apache.hadoop.hbase.thrift.ThriftServer",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "start",
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.thrift_log.exists():
            self.thrift_log.replace(self.thrift_log.with_suffix(".prev.log"))
        with open(self.thrift_log, "ab") as log:
            log.write(f"# {time.strftime('%F %T')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                cwd=self.state_dir(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        rec = {"pid": proc.pid, "start_ticks": _proc_start_ticks(proc.pid), "port": port}
        self._thrift_pid_path.write_text(json.dumps(rec))

    def _stop_thrift(self, *, kill: bool = False) -> bool:
        pid = self.thrift_pid()
        if pid is None:
            self._thrift_pid_path.unlink(missing_ok=True)
            return False
        self._signal_group(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline, escalated = time.monotonic() + self.stop_timeout, kill
        while self.thrift_pid() is not None:
            if time.monotonic() > deadline:
                if escalated:
                    raise HarnessError(f"hbase: thrift (pid {pid}) survived SIGKILL")
                self._signal_group(pid, signal.SIGKILL)
                deadline, escalated = time.monotonic() + 10, True
            time.sleep(0.05)
        self._signal_group(pid, signal.SIGKILL)
        self._thrift_pid_path.unlink(missing_ok=True)
        for _ in range(50):
            if not port_open(self.ports()["thrift"]):
                break
            time.sleep(0.1)
        return True

    def stop_thrift(self, *, kill: bool = False) -> bool:
        """Stop only the Thrift server (clients see connection refused); the master stays."""
        with self._locked():
            return self._stop_thrift(kill=kill)

    def start_thrift(self, timeout: float = 60.0) -> float:
        """Start the Thrift server again under a running master; seconds until ready."""
        t0 = time.monotonic()
        with self._locked():
            pid = self.pid()
            if pid is None:
                raise HarnessError("hbase: the master is not running")
            if self.thrift_pid() is None:
                self._launch_thrift()
            deadline = t0 + timeout
            while not self._safe_ready():
                if self.thrift_pid() is None or time.monotonic() > deadline:
                    why = "exited" if self.thrift_pid() is None else "did not answer"
                    raise HarnessError(
                        f"hbase: thrift {why} within {timeout:.0f}s; log {self.thrift_log}:\n"
                        f"{self._tail_file(self.thrift_log)}"
                    )
                time.sleep(0.1)
        return time.monotonic() - t0

    # ---- stop, status, logs ---------------------------------------------------------

    def _stop(self, timeout: float | None, *, kill: bool = False) -> bool:
        stopped = self._stop_thrift(kill=kill)  # Thrift first, then the master
        return super()._stop(timeout, kill=kill) or stopped

    def status(self) -> Status:
        st = super().status()
        pid = self.thrift_pid()
        if pid:
            st.rss += rss_bytes(pid)
        st.detail += f" thrift={pid or 'down'}"
        return st

    @staticmethod
    def _tail_file(path: Path, lines: int = 40) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"(no log at {path})"

    def tail(self, lines: int = 40) -> str:
        parts = [super().tail(lines)]
        if self.thrift_log.exists():
            parts.append(f"==> thrift: {self.thrift_log} <==\n{self._tail_file(self.thrift_log)}")
        return "\n".join(parts)
