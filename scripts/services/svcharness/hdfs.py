"""HDFS: Hadoop 3.4.1's MiniDFSCluster (one NameNode with WebHDFS, one DataNode) in one JVM,
from the ``hadoop-minicluster`` jars on Maven Central.

The minicluster POM alone does not start (see /work/shared/SERVICES.md section 3): Maven's
nearest-wins picks a jackson-core older than jackson-databind, and MiniDFSCluster needs
Mockito and JUnit at run time; the three extra dependencies below fix both. The DataNode
advertises 127.0.0.1 so WebHDFS redirects stay on loopback. The namespace is formatted on
the first start only: a restart keeps the files, which outage tests rely on.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .base import cache_root, env_port
from .maven import Artifact, MavenService

VERSION = "3.4.1"
EXTRA = (
    Artifact("com.fasterxml.jackson.core", "jackson-core", "2.12.7"),
    Artifact("org.mockito", "mockito-core", "2.28.2"),
    Artifact("junit", "junit", "4.13.2"),
)
#: the user WebHDFS clients act as (permissions are off)
USER = "etl"

# WARN by default: at INFO every WebHDFS request and block logs a line (~25 per batch of
# a test job); start-up and edit-log replay (what a slow restart spends its time on) stay.
LOG4J = """\
log4j.rootLogger=WARN,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.test.MiniDFSClusterManager=INFO
log4j.logger.org.apache.hadoop.hdfs.MiniDFSCluster=INFO
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSImage=INFO
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSEditLogLoader=INFO
log4j.logger.org.apache.hadoop.hdfs.server.namenode.NameNode=INFO
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode=WARN
"""

JAVA17 = [
    f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
    for pkg in (
        "java.lang",
        "java.lang.invoke",
        "java.lang.reflect",
        "java.io",
        "java.net",
        "java.nio",
        "java.util",
        "java.util.concurrent",
        "java.util.concurrent.atomic",
        "jdk.internal.ref",
        "sun.nio.ch",
        "sun.nio.cs",
        "sun.security.action",
        "sun.util.calendar",
    )
] + [
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
]
HEAP = ["-Xms128m", "-Xmx512m"]


class HDFS(MavenService):
    name = "hdfs"
    start_timeout = 120.0

    @property
    def version(self) -> str:
        return os.environ.get("ETLCORE_HDFS_VERSION", VERSION)

    def cache_dir(self) -> Path:
        return cache_root() / f"hadoop-minicluster-{self.version}"

    def ports(self) -> Mapping[str, int]:
        return {
            "rpc": env_port("ETLCORE_HDFS_RPC_PORT", 8020),
            "http": env_port("ETLCORE_HDFS_PORT", 9870),
        }

    def webhdfs_url(self) -> str:
        return f"http://127.0.0.1:{self.ports()['http']}"

    def env(self) -> dict[str, str]:
        return {
            "ETLCORE_HDFS_URL": f"hdfs://127.0.0.1:{self.ports()['http']}",
            "ETLCORE_HDFS_WEBHDFS": self.webhdfs_url(),
            "ETLCORE_HDFS_USER": USER,
        }

    # ---- fetch ----------------------------------------------------------------------

    def artifacts(self) -> tuple[Artifact, ...]:
        return (Artifact("org.apache.hadoop", "hadoop-minicluster", self.version), *EXTRA)

    # ---- run ------------------------------------------------------------------------

    @property
    def _details(self) -> Path:
        return self.state_dir() / "ready.json"

    @property
    def _formatted(self) -> Path:
        """Written once the first (formatting) start came up: later starts keep the data."""
        return self.state_dir() / "formatted"

    def prepare(self) -> None:
        self._conf.mkdir(parents=True, exist_ok=True)
        (self._conf / "log4j.properties").write_text(LOG4J)
        self._data.mkdir(parents=True, exist_ok=True)
        self._details.unlink(missing_ok=True)

    def command(self) -> list[str]:
        ports = self.ports()
        settings = {
            "dfs.permissions.enabled": "false",
            "dfs.replication": "1",
            "hdfs.minidfs.basedir": str(self._data),
            "dfs.datanode.hostname": "127.0.0.1",
            "dfs.namenode.rpc-bind-host": "127.0.0.1",
            "dfs.namenode.http-bind-host": "127.0.0.1",
            # a restarted NameNode must not sit in safe mode waiting for block reports
            "dfs.namenode.safemode.extension": "0",
            # listings page every 100 entries (default 1000), so tests exercise paging
            "dfs.ls.limit": "100",
            # WebHDFS writes go through the DataNode's own HDFS client, whose close asks the
            # NameNode to complete the file; about half the time the DataNode's report of
            # the block has not arrived yet, and the client waits this long before asking
            # again (default 400 ms, which then dominated every write benchmark: see
            # benchmarks/README.md, "HDFS: the 400 ms close"). With one DataNode and
            # replication 1 the NameNode cannot close on a committed block
            # (dfs.namenode.file.close.num-committed-allowed needs more expected replicas
            # than the minimum), so the retry is what can be shortened.
            "dfs.client.block.write.locateFollowingBlock.initial.delay.ms": "20",
        }
        defines = [arg for k, v in settings.items() for arg in ("-D", f"{k}={v}")]
        fmt = [] if self._formatted.exists() else ["-format"]
        return [
            "java",
            *HEAP,
            *JAVA17,
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # C1 only: a restart is ready sooner on 2 busy cores
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.net.preferIPv4Stack=true",
            f"-Dlog4j.configuration=file:{self._conf / 'log4j.properties'}",
            f"-Dtest.build.data={self._data}",
            "-cp",
            f"{self._conf}:{self.lib_dir}/*",
            "org.apache.hadoop.test.MiniDFSClusterManager",
            *fmt,
            "-datanodes",
            "1",
            "-nnport",
            str(ports["rpc"]),
            "-httpport",
            str(ports["http"]),
            *defines,
            "-writeDetails",
            str(self._details),
        ]

    def ready(self) -> bool:
        """The cluster wrote its details file, and the NameNode is out of safe mode with a
        live DataNode (so writes work, not only listings)."""
        if not self._details.exists():
            return False
        query = "qry=Hadoop:service=NameNode,name=NameNodeInfo"
        try:
            with urllib.request.urlopen(f"{self.webhdfs_url()}/jmx?{query}", timeout=2.0) as r:
                [info] = json.load(r)["beans"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False
        ok = info.get("Safemode") == "" and json.loads(info.get("LiveNodes") or "{}") != {}
        if ok and not self._formatted.exists():
            self._formatted.write_text(self.version + "\n")
        return bool(ok)
