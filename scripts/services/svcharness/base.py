"""The service base class, its process handling, and the paths every service shares.

A service is one small subclass of :class:`Service`: it says how to ``fetch`` its
artifacts into the download cache, how to ``prepare`` its runtime state, which
``command`` starts it, how to probe it (``ready``) and which environment variables
tests read (``env``). Starting detached, pid bookkeeping, readiness waits, log
rotation and stopping by process group live here, once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

REPO_ROOT = Path(__file__).resolve().parents[3]
KEEP_LOGS = 5
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class HarnessError(RuntimeError):
    """A service could not be fetched, started, probed or stopped."""


def cache_root() -> Path:
    """Where downloads are cached between runs (``ETLCORE_SERVICES_CACHE`` overrides)."""
    env = os.environ.get("ETLCORE_SERVICES_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "etlcore-services"


def state_root() -> Path:
    """Where runtime state lives (``ETLCORE_SERVICES_STATE`` overrides)."""
    env = os.environ.get("ETLCORE_SERVICES_STATE")
    return Path(env).expanduser() if env else REPO_ROOT / ".services"


def env_port(var: str, default: int) -> int:
    """A port from the environment variable ``var``, else ``default``."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError as exc:
        raise HarnessError(f"{var}={raw!r} is not a port number") from exc
    if not 0 < port < 65536:
        raise HarnessError(f"{var}={raw!r} is out of range")
    return port


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from ``sock`` (for the wire-protocol probes of ``ready``);
    ConnectionError if the server closes the connection first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        buf += chunk
    return buf


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_checked(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    what: str,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run a fetch step (``env``: extra variables); on failure raise with its output's tail."""
    proc = subprocess.run(
        list(argv),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, **env} if env else None,
    )
    if proc.returncode != 0:
        out = _ANSI.sub("", proc.stdout + proc.stderr).strip().splitlines()
        raise HarnessError(
            f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n" + "\n".join(out[-40:])
        )


def dir_size(path: Path) -> int:
    """Total size in bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------- processes


def _proc_start_ticks(pid: int) -> int | None:
    """The kernel start time of ``pid`` (guards against pid reuse), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # zombie: dead for our purposes
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in bytes (0 if gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return total


@dataclass
class Status:
    """What ``status`` reports for one service."""

    name: str
    running: bool
    ready: bool
    pid: int | None
    rss: int
    detail: str

    def line(self) -> str:
        state = "ready" if self.ready else ("running, NOT ready" if self.running else "stopped")
        mem = f" rss={self.rss / 2**20:.0f}MiB" if self.rss else ""
        pid = f" pid={self.pid}" if self.pid else ""
        return f"{self.name:10} {state}{pid}{mem} {self.detail}".rstrip()


# --------------------------------------------------------------------------- services


class Service:
    """One server the tests need. Subclasses fill in the hooks marked below."""

    name: ClassVar[str]
    #: seconds ``start`` waits for ``ready`` before giving up
    start_timeout: ClassVar[float] = 90.0
    #: seconds ``stop`` waits after SIGTERM before SIGKILL
    stop_timeout: ClassVar[float] = 30.0

    # ---- hooks --------------------------------------------------------------------

    def fetched(self) -> bool:
        """Whether the cached artifacts are complete."""
        raise NotImplementedError

    def fetch(self) -> None:
        """Download artifacts into :meth:`cache_dir` (idempotent)."""
        raise NotImplementedError

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Write configs and initialise data under :meth:`state_dir` before a start."""

    def command(self) -> list[str]:
        """The argv that runs the server in the foreground."""
        raise NotImplementedError

    def ready(self) -> bool:
        """A cheap probe: True once the server answers real requests."""
        raise NotImplementedError

    def ports(self) -> Mapping[str, int]:
        """Named ports this service binds (all on 127.0.0.1)."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment variables tests read to reach the service."""
        raise NotImplementedError

    def cache_dir(self) -> Path:
        """This service's download cache directory."""
        return cache_root() / self.name

    # ---- shared machinery ---------------------------------------------------------

    def state_dir(self) -> Path:
        return state_root() / self.name

    @property
    def log_dir(self) -> Path:
        return self.state_dir() / "logs"

    @property
    def log_path(self) -> Path:
        """The current (or last) run's log."""
        return self.log_dir / "current.log"

    @property
    def _pid_path(self) -> Path:
        return self.state_dir() / "pid.json"

    def _read_pid(self) -> int | None:
        """The recorded pid if that very process is still alive, else None."""
        try:
            rec = json.loads(self._pid_path.read_text())
            pid, ticks = int(rec["pid"]), int(rec["start_ticks"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        _reap(pid)
        return pid if _proc_start_ticks(pid) == ticks else None

    def pid(self) -> int | None:
        return self._read_pid()

    def _recorded_ports(self) -> dict[str, int]:
        try:
            return dict(json.loads(self._pid_path.read_text()).get("ports", {}))
        except (OSError, ValueError):
            return {}

    def status(self) -> Status:
        pid = self._read_pid()
        ready = self._safe_ready() if pid else False
        ports = ", ".join(f"{k}={v}" for k, v in self.ports().items())
        detail = f"[{ports}]"
        if pid and self._recorded_ports() and self._recorded_ports() != dict(self.ports()):
            detail += f" (running with {self._recorded_ports()})"
        return Status(self.name, pid is not None, ready, pid, rss_bytes(pid) if pid else 0, detail)

    def _safe_ready(self) -> bool:
        try:
            return self.ready()
        except Exception:
            return False

    def _rotate_logs(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.log_path.stat().st_mtime))
            self.log_path.rename(self.log_dir / f"run-{stamp}-{os.getpid()}.log")
        old = sorted(self.log_dir.glob("run-*.log"))
        for path in old[: max(0, len(old) - KEEP_LOGS)]:
            path.unlink(missing_ok=True)

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the current log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        return "\n".join(text.splitlines()[-lines:])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop across processes (pytest-xdist workers, parallel CLIs)."""
        self.state_dir().mkdir(parents=True, exist_ok=True)
        with open(self.state_dir() / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self, timeout: float | None = None) -> float:
        """Start detached and wait until ready. No-op if already up. Returns seconds taken."""
        with self._locked():
            return self._start(timeout)

    def _start(self, timeout: float | None) -> float:
        t0 = time.monotonic()
        pid = self._read_pid()
        if pid is not None:
            if self._safe_ready():
                return 0.0
            # Alive but not answering: maybe still starting (another caller); wait for it.
            if self._wait_ready(pid, timeout or self.start_timeout):
                return time.monotonic() - t0
            raise HarnessError(
                f"{self.name}: pid {pid} is alive but not ready after "
                f"{timeout or self.start_timeout:.0f}s; log {self.log_path}:\n{self.tail()}"
            )
        if not self.fetched():
            raise HarnessError(
                f"{self.name}: not fetched; run `python scripts/services/svc.py fetch {self.name}`"
            )
        busy = [f"{k}={p}" for k, p in self.ports().items() if port_open(p)]
        if busy:
            raise HarnessError(
                f"{self.name}: port(s) {', '.join(busy)} already in use by a process this "
                "harness did not start; stop it or override the port (see `svc.py env`)"
            )
        self.state_dir().mkdir(parents=True, exist_ok=True)
        self.prepare()
        self._rotate_logs()
        argv = self.command()
        with open(self.log_path, "ab") as log:
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
        ticks = _proc_start_ticks(proc.pid)
        self._pid_path.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "start_ticks": ticks,
                    "ports": dict(self.ports()),
                    "argv": argv,
                    "started": time.time(),
                }
            )
        )
        if self._wait_ready(proc.pid, timeout or self.start_timeout, proc.poll):
            return time.monotonic() - t0
        code = proc.poll()
        why = f"exited with {code}" if code is not None else "did not become ready"
        if code is None:
            self._stop(None)
        raise HarnessError(
            f"{self.name}: {why} within {timeout or self.start_timeout:.0f}s; "
            f"log {self.log_path}, last lines:\n{self.tail()}"
        )

    def _wait_ready(
        self, pid: int, timeout: float, poll: Callable[[], int | None] | None = None
    ) -> bool:
        return self._wait_until(self._safe_ready, pid, time.monotonic() + timeout, poll)

    @staticmethod
    def _wait_until(
        check: Callable[[], bool], pid: int, deadline: float,
        poll: Callable[[], int | None] | None = None,
    ) -> bool:
        """Poll ``check`` until it holds (True), or until process ``pid`` is gone or
        replaced, ``poll`` reports that the child exited, or ``deadline`` passed (False).

        The readiness wait of every service, and of the stages of those that start in
        stages (a master first, then what joins it)."""
        ticks = _proc_start_ticks(pid)
        while time.monotonic() < deadline:
            if poll is not None and poll() is not None:
                return False
            if _proc_start_ticks(pid) != ticks or ticks is None:
                return False
            if check():
                return True
            time.sleep(0.2)
        return False

    def stop(self, timeout: float | None = None, *, kill: bool = False) -> bool:
        """Stop the process group: SIGTERM, wait, then SIGKILL. Returns False if not running.

        ``kill=True`` sends SIGKILL at once (a crash rather than a clean shutdown).
        """
        with self._locked():
            return self._stop(timeout, kill=kill)

    def _stop(self, timeout: float | None, *, kill: bool = False) -> bool:
        pid = self._read_pid()
        if pid is None:
            self._pid_path.unlink(missing_ok=True)
            return False
        ticks = _proc_start_ticks(pid)
        deadline = time.monotonic() + (timeout or self.stop_timeout)
        self._signal_group(pid, signal.SIGKILL if kill else signal.SIGTERM)
        while time.monotonic() < deadline:
            _reap(pid)
            if _proc_start_ticks(pid) != ticks:
                break
            time.sleep(0.1)
        else:
            self._signal_group(pid, signal.SIGKILL)
            for _ in range(100):
                _reap(pid)
                if _proc_start_ticks(pid) != ticks:
                    break
                time.sleep(0.1)
            else:
                raise HarnessError(f"{self.name}: pid {pid} survived SIGKILL")
        # Any stragglers left in the group (helpers forked by the server).
        self._signal_group(pid, signal.SIGKILL)
        self._pid_path.unlink(missing_ok=True)
        for port in self.ports().values():
            for _ in range(50):
                if not port_open(port):
                    break
                time.sleep(0.1)
        return True

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def restart(self, timeout: float | None = None, *, kill: bool = False) -> float:
        """Stop (keeping data) then start; returns seconds until ready again."""
        with self._locked():
            self._stop(None, kill=kill)
            return self._start(timeout)

    def wipe(self) -> None:
        """Delete runtime state (data, logs). The service must be stopped."""
        with self._locked():
            if self._read_pid() is not None:
                raise HarnessError(f"{self.name}: stop it before wiping its state")
            for child in self.state_dir().iterdir():
                if child.name != ".lock":
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
