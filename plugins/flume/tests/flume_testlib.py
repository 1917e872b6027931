"""Helpers of the flume tests: free ports, the crash job, reading what it wrote."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

JOB = Path(__file__).with_name("flume_job.py")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tagged(agent: str, **settings: Any) -> dict[str, Any]:
    """Agent settings whose events carry the header ``agent: <agent>`` (a static interceptor)."""
    extra = {"a1.sources.s1.interceptors": "i1", "a1.sources.s1.interceptors.i1.type": "static",
             "a1.sources.s1.interceptors.i1.key": "agent",
             "a1.sources.s1.interceptors.i1.value": agent}
    return {**settings, "extra": {**extra, **settings.get("extra", {})}}


def spawn_job(ckpt: Path, out: Path, ports: list[int], log: Path, *args: str
              ) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, str(JOB), str(ckpt), str(out),
                                 ",".join(map(str, ports)), *args],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)


def logged_records(ckpt: Path) -> int:
    """Lines in every receiver log of the checkpoint (what receivers stored, repeats included)."""
    return sum(p.read_bytes().count(b"\n") for p in ckpt.rglob("received.jsonl"))


def output_counts(out: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in sorted((out / "files").rglob("part-*")):
        if not path.name.startswith("."):
            counts.update(json.loads(x) for x in path.read_text().splitlines())
    return counts


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def stop_job(proc: subprocess.Popen[bytes], out: Path, log: Path, timeout: float = 120) -> None:
    """Ask the job to drain and stop (the stop file); fail with its log if it does not."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "stop").touch()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, f"job exited {proc.returncode}:\n{log.read_text()[-4000:]}"


class AvroClient:
    """A Python Avro IPC client (the avro package's Requestor) over Netty framing.

    Not Flume's Java client: its protocol hash differs from the server's, so the
    handshake goes NONE, then CLIENT with the protocol text; each call opens a
    connection (the Requestor sends a handshake with every call).
    """

    def __init__(self, port: int):
        from avro import ipc, protocol
        from etlcore_flume.protocol import PROTOCOL_TEXT

        self.port = port
        self.remote_name = f"127.0.0.1:{port}".encode()
        self.requestor = ipc.Requestor(protocol.parse(PROTOCOL_TEXT), self)
        self.serial = 0

    def transceive(self, request: bytes) -> bytes:
        from etlcore_flume.framing import encode_frame

        self.serial += 1
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.sendall(encode_frame(self.serial, request))
            data = b""
            while True:
                chunk = conn.recv(65536)
                assert chunk, "the server closed the connection without a reply"
                data += chunk
                if len(data) >= 12:
                    serial, count = struct.unpack(">ii", data[:8])
                    (length,) = struct.unpack(">i", data[8:12])
                    if len(data) >= 12 + length:
                        assert (serial, count) == (self.serial, 1)
                        return data[12:12 + length]

    def append_batch(self, events: list[tuple[dict[str, str], bytes]]) -> str:
        datum = {"events": [{"headers": h, "body": b} for h, b in events]}
        return str(self.requestor.request("appendBatch", datum))

    def append(self, headers: dict[str, str], body: bytes) -> str:
        return str(self.requestor.request("append", {"event": {"headers": headers,
                                                               "body": body}}))


def self_signed(folder: Path, password: str = "") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (encrypted with ``password``)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "2", "-subj",
            "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    argv += ["-passout", f"pass:{password}"] if password else ["-nodes"]
    subprocess.run(argv, check=True, capture_output=True)
    return cert, key
