"""The lock of a checkpoint on shared storage (S3, HDFS): a lease renewed by a heartbeat.

A local checkpoint is locked with ``flock`` (:class:`etlcore.checkpoint.CheckpointLock`);
the kernel drops it when the process dies. An object store has no such lock, and a
driver killed by SIGKILL cannot release anything, so a remote checkpoint is held by
a *lease*: a small file ``_lease/<generation>.json`` naming its owner (host, pid, a
random id) whose ``beat`` counter the owner rewrites every ``ttl / 3`` seconds from
a thread.

- **Taking it**: the highest generation is the lease. A missing one, or one marked
  released, is taken by creating the next generation with an *exclusive create*
  (S3 ``PutObject`` with ``If-None-Match: *``, HDFS ``CREATE`` without overwrite):
  of two drivers starting together exactly one wins.
- **A live owner** is one whose ``beat`` changes while we watch it, for up to
  ``1.2 * ttl`` of our own monotonic clock (never comparing two hosts' clocks). The
  error names the checkpoint URL and the owner.
- **A stale lease** (its owner was killed) has not changed in that time: it is taken
  over by creating the next generation, again exclusively. When the owner ran on
  this host, in this pid namespace, and its pid is gone, the lease is stale at once
  (a driver restarted where it died does not wait).
- **The owner** holds the lease only while its renewals succeed: when more than
  ``ttl`` passes since the last one, or a higher generation appears, it has lost
  the lease, and :meth:`Lease.check` (called before every plan and commit is
  written) stops the job. A taker waits ``1.2 * ttl`` of silence, so the two
  never write the log at the same time.

``ttl`` comes from ``ETLCORE_CHECKPOINT_LEASE_SECONDS`` (default 20 s): a restart
after a crash waits about ``1.2 * ttl`` before it takes the lease over.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from etlcore.ckptstore import CheckpointStore
from etlcore.errors import CheckpointError

log = logging.getLogger("etlcore.lease")

FOLDER = "_lease"
DEFAULT_TTL = 20.0
WATCH = 1.2  # a lease unchanged this many ttls is stale


def lease_ttl() -> float:
    """Seconds a lease lives without renewal (``ETLCORE_CHECKPOINT_LEASE_SECONDS``)."""
    text = os.environ.get("ETLCORE_CHECKPOINT_LEASE_SECONDS", "")
    try:
        ttl = float(text) if text else DEFAULT_TTL
    except ValueError:
        ttl = -1.0
    if not 0 < ttl < 86400:
        from etlcore.errors import ConfigError

        raise ConfigError("ETLCORE_CHECKPOINT_LEASE_SECONDS", "a number of seconds > 0", text)
    return ttl


def _pid_namespace() -> str:
    """This process's pid namespace (containers on one host have their own), or ""."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _dead_here(info: dict[str, Any]) -> bool:
    """True when the lease's owner ran in this host's pid namespace and its pid is gone."""
    ns = _pid_namespace()
    if not ns or info.get("host") != socket.gethostname() or info.get("pidns") != ns:
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # EPERM: alive, someone else's
        return False
    return False


def _name(generation: int) -> str:
    return f"{FOLDER}/{generation:012d}.json"


def describe(info: dict[str, Any]) -> str:
    """``pid 123 on host h (since 2026-12-04 18:00:00)`` from a lease's content."""
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        return f"pid {int(info['pid'])} on host {info['host']} (since {since})"
    except (KeyError, TypeError, ValueError):
        return "another process (its lease is being written)"


class Lease:
    """The lease of one remote checkpoint; ``acquire`` once, ``release`` at the end."""

    def __init__(self, store: CheckpointStore, ttl: float | None = None):
        self.store = store
        self.ttl = ttl if ttl is not None else lease_ttl()
        self.owner = uuid.uuid4().hex
        self.generation = -1
        self._beat = 0
        self._since = time.time()
        self._renewed = 0.0  # monotonic time of the last successful write
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    # -- content -----------------------------------------------------------------------
    def _content(self, released: bool = False) -> bytes:
        return json.dumps({"owner": self.owner, "host": socket.gethostname(),
                           "pid": os.getpid(), "pidns": _pid_namespace(),
                           "since": self._since, "beat": self._beat,
                           "ttl": self.ttl, "released": released}).encode()

    def _read(self, generation: int) -> dict[str, Any] | None:
        """A lease's content; ``{}`` while half-written; None when gone."""
        try:
            data = self.store.read(_name(generation))
        except FileNotFoundError:
            return None
        try:
            info = json.loads(data)
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def _generations(self) -> list[int]:
        return self.store.ids(FOLDER, ".json")

    # -- taking it ---------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lease, or raise a CheckpointError naming the live owner."""
        while True:
            gens = self._generations()
            top = gens[-1] if gens else -1
            if top >= 0:
                info = self._read(top)
                if info is not None and not info.get("released"):
                    self._wait_stale(top, info)
            if self._take(top + 1):
                break
        for old in self._generations():
            if old < self.generation:
                self.store.remove(_name(old))
        self._thread = threading.Thread(target=self._renew_loop, name="etlcore-lease",
                                        daemon=True)
        self._thread.start()

    def _wait_stale(self, generation: int, info: dict[str, Any]) -> None:
        """Return once the lease is stale (unchanged for 1.2 ttl); raise if it is live."""
        if _dead_here(info):
            log.warning("checkpoint %s: taking over the lease of %s (that process is gone)",
                        self.store.root, describe(info))
            return
        ttl = info.get("ttl")
        ttl = float(ttl) if isinstance(ttl, (int, float)) and ttl > 0 else self.ttl
        deadline = time.monotonic() + WATCH * ttl
        log.info("checkpoint %s: lease held by %s; waiting up to %.1fs to see whether it is "
                 "alive", self.store.root, describe(info), WATCH * ttl)
        while True:
            time.sleep(min(ttl / 4, max(0.0, deadline - time.monotonic())))
            now = self._read(generation)
            taken = self._generations()
            if now != info or (taken and taken[-1] != generation):
                holder = now if now else self._read(taken[-1]) if taken else info
                raise CheckpointError(
                    f"checkpoint {self.store.root} is in use by {describe(holder or info)}: "
                    "its lease is being renewed; only one process may run a job on a "
                    "checkpoint (two would both read and commit the same input). Stop the "
                    "other run, or give this one its own checkpoint location")
            if time.monotonic() >= deadline:
                log.warning("checkpoint %s: taking over the lease of %s, silent for %.1fs "
                            "(its process died)", self.store.root, describe(info), WATCH * ttl)
                return

    def _take(self, generation: int) -> bool:
        """Create generation ``generation``; False if another driver created it first."""
        self.generation = generation
        self._beat = 0
        started = time.monotonic()
        if not self.store.create(_name(generation), self._content()):
            info = self._read(generation)
            if not info or info.get("owner") != self.owner:  # not ours: a retry's echo is
                return False
        self._renewed = started
        return True

    # -- holding it --------------------------------------------------------------------
    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception as err:  # noqa: BLE001 - the job stops at the next check()
                log.warning("checkpoint %s: cannot renew the lease: %s", self.store.root, err)
            if self._lost is not None:
                return

    def renew(self) -> None:
        """Rewrite the lease with the next beat, unless it was lost."""
        with self._write_lock:
            if self._lost is not None or self._stop.is_set():
                return
            started = time.monotonic()
            if started - self._renewed > self.ttl:
                self._lose(f"no renewal for {started - self._renewed:.1f}s (lease: "
                           f"{self.ttl:g}s)")
                return
            gens = self._generations()
            if gens and gens[-1] > self.generation:
                self._lose(f"generation {gens[-1]} was taken by "
                           f"{describe(self._read(gens[-1]) or {})}")
                return
            self._beat += 1
            self.store.write(_name(self.generation), self._content())
            self._renewed = started

    def _lose(self, why: str) -> None:
        self._lost = why
        log.error("checkpoint %s: lease lost: %s", self.store.root, why)

    def check(self) -> None:
        """Raise a CheckpointError unless this process still holds the lease."""
        if self._lost is None and time.monotonic() - self._renewed > self.ttl:
            self._lose(f"no renewal for {time.monotonic() - self._renewed:.1f}s (lease: "
                       f"{self.ttl:g}s)")
        if self._lost is not None:
            raise CheckpointError(f"checkpoint {self.store.root}: this run lost its lease "
                                  f"({self._lost}); stopping so that two runs never write "
                                  "one checkpoint")

    def stop(self) -> None:
        """Stop renewing, leaving the lease as a crash would (tests; :meth:`release` calls it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
            self._thread = None

    def release(self) -> None:
        """Stop renewing and mark the lease released, so the next run need not wait."""
        self.stop()
        with self._write_lock:
            if self.generation < 0 or self._lost is not None:
                return
            try:
                gens = self._generations()
                if not gens or gens[-1] == self.generation:
                    self.store.write(_name(self.generation), self._content(released=True))
            except Exception as err:  # noqa: BLE001 - the next run waits out the lease
                log.warning("checkpoint %s: cannot release the lease (the next run waits "
                            "%.0fs for it): %s", self.store.root, WATCH * self.ttl, err)
            self.generation = -1
