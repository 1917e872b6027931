"""The socket source over real TCP: a client of a server, and a server with acks and a WAL."""

from __future__ import annotations

import json
import pickle
import socket
import threading
from pathlib import Path

import pytest

from etlcore import ConfigError, StreamingContext
from etlcore.clock import ManualClock
from etlcore.connectors.queue import MemorySink
from etlcore.connectors.socket import SocketSource
from etlcore.plugin.registry import get_registry
from etlcore.receiver import ReceiverLogReader
from etlcore.source import DriverReader, SourceContext

from .helpers import open_job, wait_for
from .protocol import PICKLERS, open_reader, read


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


def opened(checkpoint: Path | None) -> SocketSource:
    """A listening socket source, opened as the driver opens it."""
    source = get_registry().get("source", "socket").build({"port": 0, "mode": "listen"})
    source.open(SourceContext("socket-1", ManualClock(), checkpoint))
    return source


@pytest.mark.parametrize("how", sorted(PICKLERS))
def test_the_log_reader_crosses_processes_and_follows_the_log(tmp_path, how, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = opened(Path("ckpt"))  # relative to the driver's directory
    try:
        source.store(["one", "twö", "three"])
        original, shipped = open_reader(source), open_reader(source, how=how)
        monkeypatch.chdir(tmp_path / "ckpt")  # a worker runs elsewhere
        assert isinstance(shipped, ReceiverLogReader)
        assert shipped.read("0", 1, 3) == original.read("0", 1, 3) == ["twö", "three"]
        source.store(["four"])  # logged after the reader was shipped
        assert shipped.read("0", 2, 4) == original.read("0", 2, 4) == ["three", "four"]
        assert shipped.read("0", 4, 4) == []
        with pytest.raises(ValueError, match="beyond the log"):
            shipped.read("0", 3, 5)
    finally:
        source.close()


def test_a_torn_last_line_is_not_read_and_is_cut_at_restart(tmp_path):
    source = opened(tmp_path)
    source.store(["a", "b"])
    source.close()
    wal = tmp_path / "sources" / "socket-1" / "received.jsonl"
    with open(wal, "ab") as f:
        f.write(b'"c')  # a crash in the middle of an append
    reader = ReceiverLogReader(str(wal))
    assert reader.read("0", 0, 2) == ["a", "b"]
    with pytest.raises(ValueError, match="beyond the log"):
        reader.read("0", 0, 3)
    again = opened(tmp_path)
    try:
        again.store(["d"])
        assert again.available("0") == 3
        assert read(again, "0", 0, 3) == reader.read("0", 0, 3) == ["a", "b", "d"]
    finally:
        again.close()


def test_without_a_checkpoint_the_driver_reads_its_memory_log():
    source = opened(None)
    try:
        source.store(["x", "y"])
        reader = source.reader()
        assert isinstance(reader, DriverReader)
        assert list(reader.read("0", 0, 2)) == ["x", "y"]
        with pytest.raises(TypeError, match="never pickled"):
            pickle.dumps(reader)
    finally:
        source.close()


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
