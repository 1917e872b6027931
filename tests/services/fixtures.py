"""pytest plugin: real services for tests, started through the harness in scripts/services.

Session fixtures ensure a server is up (starting it, or reusing one already running) and
return its address; function fixtures hand each test fresh, uuid-named resources. A service
that cannot be started makes the test fail with the harness's error; it is never skipped.

Fixtures: ``kafka_bootstrap``, ``kafka_admin``, ``kafka_topic``, ``kafka_topic_factory``,
``kinesis_endpoint``, ``kinesis_client``, ``kinesis_stream``, ``kinesis_stream_factory``,
``spark_master`` (a :class:`SparkCluster`), ``spark_context``, ``hbase_thrift``,
``hbase_service``, ``hbase_table_factory``, ``cassandra_contact``, ``cassandra_session``,
``cassandra_keyspace``, ``mongodb_uri``, ``mongodb_client``, ``mongodb_database``,
``s3_endpoint``, ``s3_credentials``, ``s3_client``, ``s3_service``, ``s3_bucket_factory``,
``hdfs_server`` (an :class:`HdfsServer`), ``hdfs_client``, ``hdfs_service``, ``hdfs_dir_factory``,
``restart_service``, ``flume_agent`` (a factory of Flume agents delivering to a port under
test). Markers
``kafka_topic(partitions=N)`` and ``kinesis_stream(shards=N)`` size the default resources.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

_HARNESS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "services"
if str(_HARNESS_DIR) not in sys.path:
    sys.path.insert(0, str(_HARNESS_DIR))

import svcharness  # noqa: E402

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient
    from pyspark import SparkConf

KINESIS_REGION = "us-east-1"
KINESIS_KEY = "etlcore"  # kinesalite wants a signature but checks no credentials

_used: set[str] = set()  # services this session touched, for the failure summary
_failed: dict[str, str] = {}  # service -> harness error, so a dead service fails fast
_started: list[str] = []  # services this session started (not found running): stopped at the end


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kafka_topic(partitions=1, config=None): shape of the kafka_topic fixture"
    )
    config.addinivalue_line(
        "markers", "kinesis_stream(shards=2): shard count of the kinesis_stream fixture"
    )


# --------------------------------------------------------------------------- harness access


def ensure_service(name: str) -> svcharness.Service:
    """Fetch if needed, then start ``name`` (no-op when it is already up).

    Fails the calling test with the harness error if the service cannot be had.
    """
    _used.add(name)
    if name in _failed:  # pytest retries a failed session fixture for every test: don't
        pytest.fail(f"service {name!r} unavailable (as before): {_failed[name]}", pytrace=False)
    try:
        svc = svcharness.get(name)
        if not svc.fetched():
            svc.fetch()
        was_up = svc.pid() is not None
        svc.start()
        if not was_up and name not in _started and name != "spark":  # spark: its fixture
            _started.append(name)
    except svcharness.HarnessError as exc:
        _failed[name] = str(exc)
    else:
        os.environ.update(svc.env())
        return svc
    pytest.fail(f"service {name!r} unavailable: {_failed[name]}", pytrace=False)


def restart_service(name: str, *, kill: bool = False, timeout: float | None = None) -> float:
    """Stop ``name`` (SIGTERM, or SIGKILL with ``kill=True``) and start it again on the same
    ports and data. Returns the seconds until it was ready again."""
    _used.add(name)
    try:
        took = float(svcharness.get(name).restart(timeout=timeout, kill=kill))
    except svcharness.HarnessError as exc:
        error = _failed[name] = str(exc)
    else:
        _failed.pop(name, None)
        return took
    pytest.fail(f"service {name!r} failed to restart: {error}", pytrace=False)


@pytest.fixture(name="restart_service")
def _restart_service_fixture() -> Callable[..., float]:
    """The :func:`restart_service` helper, e.g. ``restart_service("kafka")`` mid-job."""
    return restart_service


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop what this session started: a server runs only while tests need it.

    Services found running (``scripts/test.sh`` starts Kafka and Kinesis, a developer
    may keep one up) are left as they were.
    """
    for name in reversed(_started):
        with contextlib.suppress(svcharness.HarnessError):
            svcharness.get(name).stop()
    _started.clear()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int) -> None:
    """On a failed run, show where each used service logged and the tail of that log."""
    if exitstatus == 0 or not _used:
        return
    terminalreporter.section("service logs")
    for name in sorted(_used):
        svc = svcharness.get(name)
        terminalreporter.write_line(f"{svc.status().line()}  log: {svc.log_path}")
        terminalreporter.write_line(svc.tail(20))


def _unique(prefix: str, request: pytest.FixtureRequest) -> str:
    test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60].strip("-")
    return f"{prefix}-{test}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- kafka


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """``host:port`` of a running single-node Kafka (KRaft) broker."""
    return str(ensure_service("kafka").env()["ETLCORE_KAFKA_BOOTSTRAP"])


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_bootstrap})


def _wait_topic(admin: AdminClient, topic: str, partitions: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(topic, timeout=5).topics.get(topic)
        if (
            md is not None
            and md.error is None
            and len(md.partitions) == partitions
            and all(p.leader >= 0 for p in md.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} not ready after {timeout}s: {md}")
        time.sleep(0.05)


@pytest.fixture
def kafka_topic_factory(
    kafka_admin: AdminClient, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """``make(partitions=1, config=None) -> name``: create uuid-named topics, deleted after."""
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    created: list[str] = []

    def make(partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = _unique("t", request)
        new = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        kafka_admin.create_topics([new], operation_timeout=30)[name].result(timeout=30)
        created.append(name)
        _wait_topic(kafka_admin, name, partitions)
        return name

    yield make
    if created:
        for fut in kafka_admin.delete_topics(created, operation_timeout=30).values():
            # best effort: the broker may have been bounced or wiped meanwhile
            with contextlib.suppress(Exception):
                fut.result(timeout=30)


@pytest.fixture
def kafka_topic(kafka_topic_factory: Callable[..., str], request: pytest.FixtureRequest) -> str:
    """A fresh topic (1 partition unless ``@pytest.mark.kafka_topic(partitions=N)`` or an
    indirect parametrisation says otherwise)."""
    marker = request.node.get_closest_marker("kafka_topic")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if hasattr(request, "param"):
        kwargs["partitions"] = int(request.param)
    return kafka_topic_factory(**kwargs)


# --------------------------------------------------------------------------- kinesis


@pytest.fixture(scope="session")
def kinesis_endpoint() -> str:
    """``http://host:port`` of a running kinesalite."""
    return str(ensure_service("kinesis").env()["ETLCORE_KINESIS_ENDPOINT"])


@pytest.fixture(scope="session")
def kinesis_client(kinesis_endpoint: str) -> Any:
    """A boto3 Kinesis client for the local endpoint (dummy credentials, us-east-1)."""
    import boto3

    return boto3.client(
        "kinesis",
        endpoint_url=kinesis_endpoint,
        region_name=KINESIS_REGION,
        aws_access_key_id=KINESIS_KEY,
        aws_secret_access_key=KINESIS_KEY,
    )


def wait_stream_active(client: Any, name: str, timeout: float = 30.0) -> None:
    """Poll until stream ``name`` is ACTIVE (faster than boto3's 10 s waiter)."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamStatus"
        ]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {name} still {status} after {timeout}s")
        time.sleep(0.02)


@pytest.fixture
def kinesis_stream_factory(
    kinesis_client: Any, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """``make(shards=2) -> name``: create uuid-named ACTIVE streams, deleted after."""
    created: list[str] = []

    def make(shards: int = 2) -> str:
        name = _unique("s", request)
        kinesis_client.create_stream(StreamName=name, ShardCount=shards)
        created.append(name)
        wait_stream_active(kinesis_client, name)
        return name

    yield make
    for name in created:
        with contextlib.suppress(Exception):  # best effort
            kinesis_client.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


@pytest.fixture
def kinesis_stream(
    kinesis_stream_factory: Callable[..., str], request: pytest.FixtureRequest
) -> str:
    """A fresh ACTIVE stream (2 shards unless ``@pytest.mark.kinesis_stream(shards=N)``)."""
    marker = request.node.get_closest_marker("kinesis_stream")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if hasattr(request, "param"):
        kwargs["shards"] = int(request.param)
    return kinesis_stream_factory(**kwargs)


# --------------------------------------------------------------------------- hbase


@pytest.fixture(scope="session")
def hbase_thrift() -> tuple[str, int]:
    """``(host, port)`` of a running HBase Thrift v1 server (standalone HBase behind it)."""
    env = ensure_service("hbase").env()
    return env["ETLCORE_HBASE_HOST"], int(env["ETLCORE_HBASE_PORT"])


@pytest.fixture
def hbase_service(hbase_thrift: tuple[str, int]) -> svcharness.HBase:
    """The harness's HBase service: ``stop_thrift()`` / ``start_thrift()`` for outages."""
    svc = svcharness.get("hbase")
    assert isinstance(svc, svcharness.HBase)
    return svc


@pytest.fixture
def hbase_table_factory(
    hbase_thrift: tuple[str, int], request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """``make(families=("cf",), create=True) -> name``: uuid-named tables, dropped after
    (``create=False`` only reserves the name, for code that creates the table itself)."""
    import happybase

    host, port = hbase_thrift
    created: list[str] = []

    def make(families: tuple[str, ...] = ("cf",), create: bool = True) -> str:
        name = _unique("t", request).replace("-", "_")
        if create:
            conn = happybase.Connection(host, port, timeout=30000)
            try:
                conn.create_table(name, {f: {"max_versions": 1} for f in families})
            finally:
                conn.close()
        created.append(name)
        return name

    yield make
    conn = None
    with contextlib.suppress(Exception):  # best effort: the server may have been bounced
        conn = happybase.Connection(host, port, timeout=30000)
        existing = {t.decode() for t in conn.tables()}
        for name in created:
            if name in existing:
                conn.delete_table(name, disable=True)
    if conn is not None:
        conn.close()


# --------------------------------------------------------------------------- cassandra


@pytest.fixture(scope="session")
def cassandra_contact() -> str:
    """``host:port`` of a running single-node Cassandra (CQL native port)."""
    return str(ensure_service("cassandra").env()["ETLCORE_CASSANDRA_CONTACT"])


@pytest.fixture(scope="session")
def cassandra_session(cassandra_contact: str) -> Iterator[Any]:
    """A cassandra-driver ``Session`` on the harness's node (no keyspace set)."""
    from cassandra.cluster import Cluster
    from cassandra.policies import ConstantReconnectionPolicy

    host, _, port = cassandra_contact.rpartition(":")
    cluster = Cluster([host], port=int(port), connect_timeout=10,
                      reconnection_policy=ConstantReconnectionPolicy(0.5, None))
    session = cluster.connect()
    session.default_timeout = 30
    try:
        yield session
    finally:
        cluster.shutdown()


@pytest.fixture(scope="session")
def cassandra_keyspace(cassandra_session: Any) -> Iterator[str]:
    """A uuid-named keyspace (SimpleStrategy, RF 1) for the session, dropped after."""
    name = f"etl_{uuid.uuid4().hex[:12]}"
    cassandra_session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):  # best effort: the node may have been bounced
            cassandra_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


# --------------------------------------------------------------------------- mongodb


@pytest.fixture(scope="session")
def mongodb_uri() -> str:
    """``mongodb://127.0.0.1:PORT/`` of a running FerretDB (MongoDB wire, SQLite backend)."""
    return str(ensure_service("mongodb").env()["ETLCORE_MONGODB_URI"])


@pytest.fixture(scope="session")
def mongodb_client(mongodb_uri: str) -> Iterator[Any]:
    """A pymongo ``MongoClient`` for the test server (short server-selection timeout)."""
    from pymongo import MongoClient

    client: Any = MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    yield client
    client.close()


@pytest.fixture
def mongodb_database(mongodb_client: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A uuid-named database for one test, dropped after it (FerretDB: a SQLite file)."""
    test = "".join(c if c.isalnum() else "_" for c in request.node.name)[:28].strip("_")
    name = f"t_{test}_{uuid.uuid4().hex[:10]}"  # FerretDB: at most 63 characters
    yield name
    with contextlib.suppress(Exception):
        mongodb_client.drop_database(name)


# --------------------------------------------------------------------------- s3 (MinIO)


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    region: str


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """``http://127.0.0.1:9000``: a running MinIO (path-style addressing)."""
    return str(ensure_service("s3").env()["ETLCORE_S3_ENDPOINT"])


@pytest.fixture(scope="session")
def s3_credentials(s3_endpoint: str) -> S3Credentials:
    env = svcharness.get("s3").env()
    return S3Credentials(
        env["ETLCORE_S3_ACCESS_KEY"], env["ETLCORE_S3_SECRET_KEY"], env["ETLCORE_S3_REGION"]
    )


def s3_connect(endpoint: str, creds: S3Credentials) -> Any:
    """A boto3 S3 client for the harness's MinIO."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        region_name=creds.region,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 3}),
    )


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str, s3_credentials: S3Credentials) -> Any:
    return s3_connect(s3_endpoint, s3_credentials)


@pytest.fixture
def s3_service(s3_endpoint: str) -> svcharness.MinIO:
    """The harness's MinIO, for outages (``stop()`` / ``start()``)."""
    svc = svcharness.get("s3")
    assert isinstance(svc, svcharness.MinIO)
    return svc


def s3_empty_bucket(client: Any, bucket: str) -> None:
    """Delete every object of ``bucket`` and the bucket."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_bucket_factory(
    s3_client: Any, s3_endpoint: str, s3_credentials: S3Credentials,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], str]]:
    """``make() -> name``: a fresh uuid-named bucket, emptied and deleted after the test."""
    created: list[str] = []

    def make() -> str:
        head, _, tail = _unique("t", request).lower().rpartition("-")
        name = f"{head[:62 - len(tail)].rstrip('-')}-{tail}"  # 63 at most, the uuid kept
        s3_client.create_bucket(Bucket=name)
        created.append(name)
        return name

    yield make
    client = s3_connect(s3_endpoint, s3_credentials)  # the session's may have seen an outage
    for name in created:
        with contextlib.suppress(Exception):  # best effort, like the other services
            s3_empty_bucket(client, name)


# --------------------------------------------------------------------------- hdfs


@dataclass(frozen=True)
class HdfsServer:
    """What ``hdfs_server`` yields: a MiniDFSCluster (NameNode + one DataNode) on loopback."""

    url: str  # hdfs://127.0.0.1:9870: the NameNode's WebHDFS (HTTP) port, as etlcore wants
    webhdfs: str  # http://127.0.0.1:9870
    user: str  # the user clients act as (permissions are off)


@pytest.fixture(scope="session")
def hdfs_server() -> HdfsServer:
    """A running HDFS; started (and stopped at the end) only if this session had to."""
    env = ensure_service("hdfs").env()
    return HdfsServer(env["ETLCORE_HDFS_URL"], env["ETLCORE_HDFS_WEBHDFS"], env["ETLCORE_HDFS_USER"])


def hdfs_connect(server: HdfsServer) -> Any:
    """An HdfsCLI WebHDFS client (``hdfs.InsecureClient``) for the harness's cluster."""
    from hdfs import InsecureClient

    return InsecureClient(server.webhdfs, user=server.user, timeout=30)


@pytest.fixture(scope="session")
def hdfs_client(hdfs_server: HdfsServer) -> Any:
    return hdfs_connect(hdfs_server)


@pytest.fixture
def hdfs_service(hdfs_server: HdfsServer) -> svcharness.HDFS:
    """The harness's HDFS, for outages (``stop()`` / ``start()``; data survives)."""
    svc = svcharness.get("hdfs")
    assert isinstance(svc, svcharness.HDFS)
    return svc


@pytest.fixture
def hdfs_dir_factory(
    hdfs_server: HdfsServer, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """``make() -> "/t-<test>-<uuid>"``: a fresh HDFS directory, deleted after the test."""
    created: list[str] = []
    client = hdfs_connect(hdfs_server)

    def make() -> str:
        path = "/" + _unique("t", request)
        client.makedirs(path)
        created.append(path)
        return path

    yield make
    client = hdfs_connect(hdfs_server)  # a fresh session: the test may have seen an outage
    for path in created:
        with contextlib.suppress(Exception):  # best effort, like the other services
            client.delete(path, recursive=True)


# --------------------------------------------------------------------------- spark


@dataclass(frozen=True)
class SparkCluster:
    """What ``spark_master`` yields: a standalone Master with two Workers, each with room
    for one 1-core executor of two applications."""

    url: str  # "spark://127.0.0.1:7077"
    service: svcharness.Spark

    @property
    def workers(self) -> int:
        return svcharness.spark.WORKERS

    def conf(self, app: str = "etlcore-test", **settings: str) -> SparkConf:
        """A driver SparkConf for this cluster: loopback only, no UI, 512m driver and
        executors (C1-only JVMs), and ``SparkContext`` waits (up to 30 s) until every Worker
        has an executor. ``settings`` override or add keys."""
        from pyspark import SparkConf

        defaults = {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.memory": "512m",
            "spark.executor.memory": svcharness.spark.EXECUTOR_MEMORY,
            "spark.executor.cores": str(svcharness.spark.EXECUTOR_CORES),
            "spark.driver.extraJavaOptions": svcharness.spark.FAST_JVM_OPTS,
            "spark.executor.extraJavaOptions": svcharness.spark.FAST_JVM_OPTS,
            "spark.cores.max": str(self.workers * svcharness.spark.EXECUTOR_CORES),
            "spark.scheduler.minRegisteredResourcesRatio": "1.0",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            # executors import the code under test (a worktree), not whatever is installed
            "spark.executorEnv.PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        conf = SparkConf().setMaster(self.url).setAppName(app)
        for key, value in {**defaults, **settings}.items():
            conf.set(key, value)
        return conf

    def alive_workers(self) -> int:
        """How many Workers the Master counts as ALIVE."""
        return self.service.alive_workers()

    def kill_worker(self, index: int) -> None:
        """SIGKILL Worker ``index`` (0 or 1) and its executors, as if the node died."""
        self.service.kill_worker(index)

    def restart_worker(self, index: int, timeout: float = 60.0) -> float:
        """Start Worker ``index`` again (stopping it first if it runs); returns the seconds
        until it registered with the Master."""
        return self.service.restart_worker(index, timeout=timeout)

    def ensure_workers(self) -> None:
        """Relaunch any Worker that is down and wait until all are registered."""
        self.service.start()


@pytest.fixture(scope="session")
def spark_master() -> Iterator[SparkCluster]:
    """A running Spark standalone cluster (Master + 2 Workers, 2 cores and 1g each;
    an application gets one 1-core 512m executor per Worker).

    Executors run this interpreter (``PYSPARK_PYTHON`` is set for the session). Sessions
    share the cluster; the last one out stops it if this session started it.
    """
    was_up = svcharness.get("spark").pid() is not None
    svc = ensure_service("spark")
    assert isinstance(svc, svcharness.Spark)
    try:  # under the service lock: a session ending meanwhile cannot stop it under us
        started = svc.acquire()
    except svcharness.HarnessError as exc:
        pytest.fail(f"service 'spark' unavailable: {exc}", pytrace=False)
    started = started or not was_up
    env = pytest.MonkeyPatch()
    env.setenv("PYSPARK_PYTHON", sys.executable)  # the driver picks the executors' Python
    env.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # the driver JVM: no hostname lookup warning
    try:
        yield SparkCluster(url=svc.url(), service=svc)
    finally:
        env.undo()
        with contextlib.suppress(svcharness.HarnessError):
            svc.release(stop=started)


@pytest.fixture(scope="session")
def spark_context(spark_master: SparkCluster) -> Iterator[Any]:
    """The session's one Spark driver on the harness cluster. PySpark allows one
    SparkContext per process, so every in-process test shares this one; job subprocesses
    start their own application beside it (each Worker hosts two executors)."""
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    if active is not None:  # a plugin's conftest imported this fixture: a second instance
        yield active
        return
    sc = SparkContext(conf=spark_master.conf("etlcore-tests", **{"spark.task.maxFailures": "4"}))
    sc.setLogLevel("ERROR")
    try:
        yield sc
    finally:
        sc.stop()


# --------------------------------------------------------------------------- flume


@pytest.fixture(scope="session")
def flume_fetched() -> Path:
    """Flume's jars, fetched into the cache if needed (agents are started per test)."""
    _used.add("flume")
    if "flume" in _failed:
        pytest.fail(f"service 'flume' unavailable (as before): {_failed['flume']}", pytrace=False)
    svc = svcharness.get("flume")
    try:
        svc.fetch()
    except svcharness.HarnessError as exc:
        _failed["flume"] = str(exc)
        pytest.fail(f"service 'flume' unavailable: {exc}", pytrace=False)
    return svcharness.flume.lib_dir()


@pytest.fixture
def flume_agent(
    flume_fetched: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., svcharness.FlumeAgent]]:
    """``start(port=..., events=1000, source="seq", channel="memory", ...) -> FlumeAgent``:
    launch an agent whose avro sink delivers to ``127.0.0.1:port``; stopped after the test.
    Keyword arguments are :class:`svcharness.flume.AgentConfig` fields."""
    agents: list[svcharness.FlumeAgent] = []

    def start(**settings: Any) -> svcharness.FlumeAgent:
        folder = tmp_path_factory.mktemp("flume-agent")
        agent = svcharness.FlumeAgent(svcharness.flume.AgentConfig(**settings), folder)
        agents.append(agent.start())
        return agent

    yield start
    for agent in agents:
        agent.stop()
