"""The socket source over real TCP: a client of a server, and a server with acks and a WAL."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from etlcore import ConfigError, StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.plugin.registry import get_registry

from .helpers import open_job, wait_for


class LineServer:
    """A TCP server that sends each of ``sessions`` to one client, then hangs up."""

    def __init__(self, sessions: list[bytes]):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sessions = sessions
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for payload in self.sessions:
            conn, _ = self.sock.accept()
            with conn:
                conn.sendall(payload)

    def close(self) -> None:
        self.thread.join(timeout=5)
        self.sock.close()


def listen_job(checkpoint: Path | None, sink_name: str, **config) -> StreamingContext:
    ctx = StreamingContext(1.0, checkpoint, clock="manual", name="listen")
    ctx.source("socket", port=0, mode="listen", **config).sink("memory", name=sink_name)
    return ctx


def send(port: int, payload: bytes) -> list[str]:
    """Send, close our side, and read the server's acks until it hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return data.decode().splitlines()


def test_connect_mode_reads_lines_and_reconnects(sink_name):
    server = LineServer([b"alpha\nbeta\r\n", "gamma\nδ".encode()])  # no final newline
    ctx = StreamingContext(1.0, clock="manual")
    stream = ctx.socket_text_stream("127.0.0.1", server.port)
    stream.map(str.upper).sink("memory", name=sink_name)
    open_job(ctx)
    wait_for(lambda: stream.node.source.available("0") == 4)
    ctx.run(until_idle=True)
    server.close()
    assert MemorySink.results(sink_name) == ["ALPHA", "BETA", "GAMMA", "Δ"]


def test_listen_mode_acks_only_what_the_log_holds(tmp_path, sink_name):
    ctx = listen_job(tmp_path / "ckpt", sink_name, ack=True)
    scheduler = open_job(ctx)
    source = scheduler.graph.sources[0].source
    wal = tmp_path / "ckpt" / "sources" / "socket-1" / "received.jsonl"

    with socket.create_connection(("127.0.0.1", source.port), timeout=5) as conn:
        conn.sendall(b"one\ntwo\n")
        reader = conn.makefile("rb")
        assert reader.readline() == b"ACK 2\n"
        # acked means durable: the lines are in the write-ahead log before any batch runs
        assert [json.loads(line) for line in wal.read_text().splitlines()] == ["one", "two"]
        conn.sendall(b"three\nfou")
        assert reader.readline() == b"ACK 3\n"
        conn.sendall(b"r\n")
        assert reader.readline() == b"ACK 4\n"
    wait_for(lambda: source.available("0") == 4)
    scheduler.close()  # a crash before the first batch: only the log remembers

    again = listen_job(tmp_path / "ckpt", sink_name, ack=True)
    again.run(until_idle=True)
    assert MemorySink.results(sink_name) == ["one", "two", "three", "four"]


def test_listen_mode_serves_many_clients(sink_name):
    ctx = listen_job(None, sink_name, ack=True)
    source = open_job(ctx).graph.sources[0].source
    payloads = {c: "".join(f"{c}-{i}\n" for i in range(50)).encode() for c in "abcd"}
    acks: dict[str, list[str]] = {}
    threads = [
        threading.Thread(target=lambda c=c: acks.__setitem__(c, send(source.port, payloads[c])))
        for c in payloads
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    ctx.run(until_idle=True)
    results = MemorySink.results(sink_name)
    assert sorted(results) == sorted(f"{c}-{i}" for c in "abcd" for i in range(50))
    for c in "abcd":
        assert acks[c][-1] == "ACK 50"  # counts are per connection
        assert [line for line in results if line.startswith(c)] == [f"{c}-{i}" for i in range(50)]


def test_a_partial_line_at_hang_up_is_stored_and_acked(sink_name):
    ctx = listen_job(None, sink_name, ack=True)
    source = open_job(ctx).graph.sources[0].source
    assert send(source.port, b"x\ny") == ["ACK 1", "ACK 2"]
    ctx.run(until_idle=True)
    assert MemorySink.results(sink_name) == ["x", "y"]


def test_stop_ends_every_thread():
    ctx = StreamingContext(1.0, clock="manual")
    ctx.source("socket", port=0, mode="listen").sink("memory", name="unused")
    scheduler = open_job(ctx)
    source = scheduler.graph.sources[0].source
    idle = socket.create_connection(("127.0.0.1", source.port), timeout=5)
    wait_for(lambda: len([t for t in source._threads if t.is_alive()]) == 2)
    scheduler.close()
    assert not any(t.is_alive() for t in source._threads)
    idle.close()


@pytest.mark.parametrize(("config", "key"), [
    ({"port": 0}, "port"),
    ({"port": 70000, "mode": "listen"}, "port"),
    ({"port": 9999, "ack": True}, "ack"),
    ({"port": 9999, "encoding": "klingon"}, "encoding"),
    ({}, "port"),
])
def test_config_errors_name_the_key(config, key):
    with pytest.raises(ConfigError) as err:
        get_registry().get("source", "socket").build(config, where="source 's'")
    assert err.value.key == f"source 's'.{key}"
