"""Exactly-once with a non-replayable source: socket lines, write-ahead log, acks, SIGKILL.

A client sends numbered lines and resends, after every reconnect, each line the
job did not acknowledge. Acknowledged lines must come out exactly once; lines
stored but not acknowledged may come out once too; nothing comes out twice.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections import Counter

import pytest

from tests.exactly_once.helpers import check_exit, kill_after, part_files, spawn

pytestmark = pytest.mark.slow

KILLS = 21
LINES = 2500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client(threading.Thread):
    """Sends lines ``0..n-1`` in small chunks; on reconnect, first resends the unacked ones."""

    def __init__(self, port: int, n: int):
        super().__init__(daemon=True)
        self.port, self.n = port, n
        self.next = 0
        self.unacked: list[int] = []  # sent, not acknowledged, in send order
        self.acked: set[int] = set()
        self.connections = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and not self.done.is_set():
            try:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
            except OSError:
                time.sleep(0.05)
                continue
            self.connections += 1
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        with self.lock:
            sent = list(self.unacked)  # this connection's send order; ACK n covers sent[:n]
        alive = threading.Event()
        alive.set()
        reader = threading.Thread(target=self._read_acks, args=(conn, sent, alive), daemon=True)
        try:
            conn.sendall(b"".join(f"{i}:line {i}\n".encode() for i in sent))
            reader.start()
            while alive.is_set() and not self.stop.is_set():
                with self.lock:
                    if self.next >= self.n and not self.unacked:
                        self.done.set()
                        return
                    chunk = list(range(self.next, min(self.n, self.next + 10)))
                    self.next += len(chunk)
                    self.unacked.extend(chunk)
                    sent.extend(chunk)
                if chunk:
                    conn.sendall(b"".join(f"{i}:line {i}\n".encode() for i in chunk))
                time.sleep(0.02)
        except OSError:
            pass
        finally:
            alive.clear()

    def _read_acks(self, conn: socket.socket, sent: list[int], alive: threading.Event) -> None:
        buffer = b""
        try:
            while alive.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    n = int(line.split()[1])
                    with self.lock:
                        newly = set(sent[:n]) - self.acked
                        self.acked |= newly
                        self.unacked = [i for i in self.unacked if i not in newly]
        except OSError:
            pass
        finally:
            alive.clear()


def test_acked_lines_come_out_exactly_once_across_sigkills(tmp_path):
    seed = int(os.environ.get("ETLCORE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash seed {seed} (rerun with ETLCORE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    port = free_port()
    ckpt, out = tmp_path / "ckpt", tmp_path / "out"
    client = Client(port, LINES)
    client.start()
    kills = 0
    try:
        while kills < KILLS:
            assert kill_after(spawn("socket_job.py", ckpt, out, port), rng.uniform(0.3, 1.3))
            kills += 1
        job = spawn("socket_job.py", ckpt, out, port)
        assert client.done.wait(120), f"client stuck: {len(client.acked)} of {LINES} acked"
        (out / "stop").parent.mkdir(parents=True, exist_ok=True)
        (out / "stop").touch()
        check_exit(job, timeout=60)
    finally:
        client.stop.set()
    counts = Counter(line for lines in part_files(out / "files").values() for line in lines)
    twice = [line for line, c in counts.items() if c > 1]
    assert not twice, f"lines written twice: {twice[:10]}"
    missing = [i for i in sorted(client.acked) if f"{i}:line {i}" not in counts]
    assert not missing, f"acknowledged lines missing: {missing[:10]}"
    assert set(counts) <= {f"{i}:line {i}" for i in range(LINES)}
    print(f"{kills} kills, {client.connections} connections, {len(counts)} lines out")
    assert client.connections >= KILLS // 4  # the kills really cut connections
