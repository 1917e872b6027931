"""Apache Spark standalone: one Master and two Workers, from pip's pyspark.

Each daemon is its own JVM started by pyspark's ``bin/spark-class``. The Master is the
service's main process (``pid.json``, ``logs/current.log``). Each Worker runs in its own
process group (it, its executors and their Python workers) with ``worker-<i>.json`` and
``logs/worker-<i>.log``, so a test can kill and restart one Worker. Stop ends the Workers,
then the Master.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from .base import (
    HarnessError,
    Service,
    Status,
    _proc_start_ticks,
    _reap,
    env_port,
    port_open,
    run_checked,
)

VERSION = "4.3.0"  # what `fetch` installs; any importable pyspark 4.x is used as is
WORKERS = 2
EXECUTOR_CORES = 1  # what one application's executor takes on a Worker
EXECUTOR_MEMORY = "512m"
# Each Worker offers room for two applications' executors: the test session's shared driver
# and a job subprocess (the SIGKILL loops) run side by side instead of one waiting forever.
APPS_PER_WORKER = 2
WORKER_CORES = EXECUTOR_CORES * APPS_PER_WORKER
WORKER_MEMORY = f"{512 * APPS_PER_WORKER}m"
DAEMON_MEMORY = "256m"  # SPARK_DAEMON_MEMORY: -Xmx of the Master and Worker JVMs
# Short-lived test JVMs: C1 only and the serial collector start ~25% faster on 2 cores and
# use less memory. Executors get the same from the fixture's driver conf.
FAST_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
REGISTERED = "Successfully registered with master"

# Read by both daemons through --properties-file (drivers never see it).
DAEMON_CONF = {
    "spark.master.rest.enabled": "false",  # else a REST submission server on 6066
    "spark.worker.timeout": "10",  # seconds without heartbeats before a Worker is dead
    "spark.worker.cleanup.enabled": "true",  # finished apps' work dirs
    "spark.worker.cleanup.interval": "600",
    "spark.worker.cleanup.appDataTtl": "3600",
    "spark.deploy.retainedApplications": "20",
    "spark.deploy.retainedDrivers": "20",
    "spark.worker.ui.retainedExecutors": "20",
}


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in group ``pgid`` (a Worker, its executors and their
    Pythons: the JVM forks them from other threads, so they are not in its children list)."""
    total = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            status = (proc / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        total += sum(
            int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith("VmRSS:")
        )
    return total


def spark_home() -> Path | None:
    """pyspark's package directory, which is a complete SPARK_HOME; None if not installed."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


class Spark(Service):
    name = "spark"
    start_timeout = 90.0
    stop_timeout = 20.0

    # ---- addresses ------------------------------------------------------------------

    def ports(self) -> Mapping[str, int]:
        return {
            "master": env_port("ETLCORE_SPARK_PORT", 7077),
            "ui": env_port("ETLCORE_SPARK_UI_PORT", 8080),
        }

    def url(self) -> str:
        return f"spark://127.0.0.1:{self.ports()['master']}"

    def env(self) -> dict[str, str]:
        return {"ETLCORE_SPARK_MASTER": self.url()}

    # ---- fetch ----------------------------------------------------------------------

    def cache_dir(self) -> Path:
        return spark_home() or Path(sysconfig.get_paths()["purelib"]) / "pyspark"

    def fetched(self) -> bool:
        home = spark_home()
        return home is not None and (home / "bin" / "spark-class").exists()

    def fetch(self) -> None:
        if self.fetched():
            return
        run_checked(
            [sys.executable, "-m", "pip", "install", "--quiet", f"pyspark=={VERSION}"],
            what="spark: pip install pyspark",
        )
        importlib.invalidate_caches()

    # ---- run ------------------------------------------------------------------------

    def _daemon_env(self) -> dict[str, str]:
        """What every daemon runs under (executors inherit it from their Worker)."""
        state = self.state_dir()
        return {
            "SPARK_HOME": str(self._home()),  # never another installation's scripts or jars
            "SPARK_CONF_DIR": str(state / "conf"),  # no spark-env.sh or defaults leak in
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_HOSTNAME": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            "SPARK_DAEMON_JAVA_OPTS": " ".join(
                [FAST_JVM_OPTS, os.environ.get("SPARK_DAEMON_JAVA_OPTS", "")]
            ).strip(),
            "SPARK_LOCAL_DIRS": str(state / "local"),  # executors' scratch (block manager)
            "SPARK_LOG_DIR": str(self.log_dir),
            "PYSPARK_PYTHON": sys.executable,
        }

    def _home(self) -> Path:
        home = spark_home()
        if home is None:
            raise HarnessError("spark: pyspark is not installed; run `svc.py fetch spark`")
        return home

    def _spark_class(self, main: str, *args: str) -> list[str]:
        """argv running ``main`` through pyspark's spark-class (``env`` and spark-class exec,
        so the pid is the JVM's)."""
        conf = self.state_dir() / "conf" / "spark-daemons.conf"
        return [
            "env",
            *(f"{k}={v}" for k, v in self._daemon_env().items()),
            str(self._home() / "bin" / "spark-class"),
            main,
            *args,
            "--properties-file",
            str(conf),
        ]

    def prepare(self) -> None:
        # A fresh Master: Workers left over from an earlier one must go first.
        for index in range(WORKERS):
            self._stop_worker(index, kill=True)
            log = self._worker_log(index)
            if log.exists():
                log.replace(log.with_suffix(".prev.log"))
        state = self.state_dir()
        for sub in ("conf", "work", "local"):
            (state / sub).mkdir(parents=True, exist_ok=True)
        (state / "conf" / "spark-daemons.conf").write_text(
            "".join(f"{k} {v}\n" for k, v in DAEMON_CONF.items())
        )

    def command(self) -> list[str]:
        ports = self.ports()
        return self._spark_class(
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["master"]),
            "--webui-port",
            str(ports["ui"]),
        )

    def master_state(self) -> dict[str, object]:
        """The Master's ``/json/`` document (status, workers, apps)."""
        url = f"http://127.0.0.1:{self.ports()['ui']}/json/"
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            return dict(json.loads(resp.read()))

    def alive_workers(self) -> int:
        """How many Workers the Master counts as ALIVE."""
        return int(str(self.master_state().get("aliveworkers", 0)))

    def ready(self) -> bool:
        if any(self.worker_pid(i) is None for i in range(WORKERS)):
            return False
        state = self.master_state()
        return state.get("status") == "ALIVE" and int(str(state.get("aliveworkers"))) >= WORKERS

    def _wait_ready(
        self, pid: int, timeout: float, poll: Callable[[], int | None] | None = None
    ) -> bool:
        """Wait for the Master, launch any Worker not running, then wait for all of them."""
        deadline = time.monotonic() + timeout
        if not self._wait_until(self._master_up, pid, deadline, poll):
            return False
        for index in range(WORKERS):
            if self.worker_pid(index) is None:
                self._launch_worker(index)
        if super()._wait_ready(pid, max(0.0, deadline - time.monotonic()), poll):
            return True
        if _proc_start_ticks(pid) is None:  # the Master died: no orphaned Workers
            for index in range(WORKERS):
                self._stop_worker(index, kill=True)
        return False

    def _master_up(self) -> bool:
        # Its RPC port opens about a second before it is elected ALIVE, less than a Worker
        # takes to boot; a Worker that connects too early just retries.
        return port_open(self.ports()["master"])

    # ---- workers --------------------------------------------------------------------

    def _worker_pid_path(self, index: int) -> Path:
        return self.state_dir() / f"worker-{index}.json"

    def _worker_log(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.log"

    def _worker_record(self, index: int) -> dict[str, int]:
        try:
            rec = json.loads(self._worker_pid_path(index).read_text())
            return {k: int(rec[k]) for k in ("pid", "start_ticks", "log_offset")}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def worker_pid(self, index: int) -> int | None:
        """The pid of Worker ``index`` if that very JVM is alive, else None."""
        rec = self._worker_record(index)
        if not rec:
            return None
        _reap(rec["pid"])
        return rec["pid"] if _proc_start_ticks(rec["pid"]) == rec["start_ticks"] else None

    def _launch_worker(self, index: int) -> None:
        work = self.state_dir() / "work" / f"worker-{index}"
        work.mkdir(parents=True, exist_ok=True)
        argv = self._spark_class(
            "org.apache.spark.deploy.worker.Worker",
            self.url(),
            "--host",
            "127.0.0.1",
            "--cores",
            str(WORKER_CORES),
            "--memory",
            WORKER_MEMORY,
            "--webui-port",
            "0",
            "--work-dir",
            str(work),
        )
        log_path = self._worker_log(index)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            log.write(f"# {time.strftime('%F %T')} starting: {' '.join(argv)}\n".encode())
            log.flush()
            offset = log.tell()
            proc = subprocess.Popen(
                argv,
                cwd=self.state_dir(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: it, its executors, their Pythons
                close_fds=True,
            )
        rec = {"pid": proc.pid, "start_ticks": _proc_start_ticks(proc.pid), "log_offset": offset}
        self._worker_pid_path(index).write_text(json.dumps(rec))

    def _worker_registered(self, index: int) -> bool:
        rec = self._worker_record(index)
        try:
            with open(self._worker_log(index), "rb") as log:
                log.seek(rec.get("log_offset", 0))
                return REGISTERED.encode() in log.read()
        except OSError:
            return False

    def _stop_worker(self, index: int, *, kill: bool = False) -> bool:
        """End Worker ``index`` and its executors (SIGTERM, or SIGKILL with ``kill``)."""
        pid = self.worker_pid(index)
        if pid is None:
            self._worker_pid_path(index).unlink(missing_ok=True)
            return False
        self._signal_group(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline, escalated = time.monotonic() + self.stop_timeout, kill
        while self.worker_pid(index) is not None:
            if time.monotonic() > deadline:
                if escalated:
                    raise HarnessError(f"spark: worker {index} (pid {pid}) survived SIGKILL")
                self._signal_group(pid, signal.SIGKILL)
                deadline, escalated = time.monotonic() + 10, True
            time.sleep(0.05)
        self._signal_group(pid, signal.SIGKILL)  # executors left in its group
        self._worker_pid_path(index).unlink(missing_ok=True)
        return True

    def kill_worker(self, index: int) -> None:
        """SIGKILL Worker ``index`` with its executors (a lost node), and wait until it is gone."""
        self._check_index(index)
        with self._locked():
            if not self._stop_worker(index, kill=True):
                raise HarnessError(f"spark: worker {index} is not running")

    def restart_worker(self, index: int, timeout: float = 60.0) -> float:
        """(Re)start Worker ``index``; returns seconds until it registered with the Master."""
        self._check_index(index)
        t0 = time.monotonic()
        with self._locked():
            if self.pid() is None:
                raise HarnessError("spark: the master is not running")
            self._stop_worker(index)
            self._launch_worker(index)
            deadline = t0 + timeout
            while not self._worker_registered(index):
                if self.worker_pid(index) is None or time.monotonic() > deadline:
                    why = "exited" if self.worker_pid(index) is None else "did not register"
                    log = self._worker_log(index)
                    raise HarnessError(
                        f"spark: worker {index} {why} within {timeout:.0f}s; "
                        f"log {log}:\n{self._tail_file(log)}"
                    )
                time.sleep(0.1)
        return time.monotonic() - t0

    @staticmethod
    def _check_index(index: int) -> None:
        if not 0 <= index < WORKERS:
            raise HarnessError(f"spark: no worker {index}; workers are 0..{WORKERS - 1}")

    # ---- shared use -----------------------------------------------------------------
    # Test sessions in one checkout share the cluster: each holds a lease (a file named by
    # its pid) while it uses it, and only the last one out may stop it.

    def _lease_path(self, pid: int) -> Path:
        return self.state_dir() / "users" / str(pid)

    def _other_users(self) -> list[int]:
        """Live processes other than this one holding a lease (stale leases are removed)."""
        others = []
        for lease in (self.state_dir() / "users").glob("*"):
            try:
                pid, ticks = int(lease.name), int(lease.read_text())
            except (OSError, ValueError):
                continue
            if _proc_start_ticks(pid) != ticks:
                lease.unlink(missing_ok=True)
            elif pid != os.getpid():
                others.append(pid)
        return others

    def acquire(self, timeout: float | None = None) -> bool:
        """Start the cluster (or reuse it) and take a lease on it for this process.
        Returns whether this call started it."""
        with self._locked():
            started = self.pid() is None
            self._start(timeout)
            lease = self._lease_path(os.getpid())
            lease.parent.mkdir(parents=True, exist_ok=True)
            lease.write_text(str(_proc_start_ticks(os.getpid())))
            return started

    def release(self, *, stop: bool) -> bool:
        """Drop this process's lease; with ``stop``, also stop the cluster unless another
        live process holds a lease. Returns whether it stopped the cluster."""
        with self._locked():
            self._lease_path(os.getpid()).unlink(missing_ok=True)
            if not stop or self._other_users():
                return False
            return self._stop(None)

    # ---- stop, status, logs ---------------------------------------------------------

    def _stop(self, timeout: float | None, *, kill: bool = False) -> bool:
        stopped = [self._stop_worker(i, kill=kill) for i in range(WORKERS)]
        return super()._stop(timeout, kill=kill) or any(stopped)

    def status(self) -> Status:
        st = super().status()
        pids = [self.worker_pid(i) for i in range(WORKERS)]
        st.rss += sum(group_rss(p) for p in pids if p)
        st.detail += " workers=" + ",".join(str(p) if p else "down" for p in pids)
        return st

    @staticmethod
    def _tail_file(path: Path, lines: int = 40) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"(no log at {path})"

    def tail(self, lines: int = 40) -> str:
        parts = [super().tail(lines)]
        for index in range(WORKERS):
            path = self._worker_log(index)
            if path.exists():
                parts.append(f"==> worker-{index}: {path} <==\n{self._tail_file(path, lines)}")
        return "\n".join(parts)
