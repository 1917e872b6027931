"""The flume source against real Flume agents: delivery, receivers, deflate, bad input,
malformed frames and backpressure."""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from etlcore_flume.config import FlumeSourceConfig
from etlcore_flume.source import FlumeSource
from flume_testlib import AvroClient, free_ports, self_signed, tagged, wait_until

from etlcore.clock import ManualClock
from etlcore.config import parse_config
from etlcore.source import Rejected, SourceContext

pytestmark = pytest.mark.services

Agent = Callable[..., Any]


def open_source(tmp_path: Path | None, **settings: Any) -> FlumeSource:
    source = FlumeSource(parse_config(FlumeSourceConfig, settings, "flume"))
    source.open(SourceContext("flume", ManualClock(0.0), tmp_path))
    return source


def drain(source: FlumeSource, want: int, timeout: float = 90) -> dict[str, list[Any]]:
    """Wait for ``want`` records over all partitions; each partition's records, in order."""
    assert wait_until(lambda: sum(source.available(p) for p in source.partitions()) >= want,
                      timeout), {p: source.available(p) for p in source.partitions()}
    return {p: source.read(p, 0, source.available(p)) if source.logs[p].path is None
            else source.reader().read(p, 0, source.available(p)) for p in source.partitions()}


def test_seq_events_arrive_once_with_headers(flume_agent: Agent, tmp_path: Path) -> None:
    source = open_source(tmp_path / "ckpt", port=0)
    try:
        agent = flume_agent(**tagged("A", port=source.ports[0], events=1000))
        records = drain(source, 1000)["0"]
        time.sleep(1.0)  # nothing more comes: the agent sent each event once
        assert source.available("0") == 1000, agent.tail()
    finally:
        source.close()
    assert sorted(int(r["body"]) for r in records) == list(range(1000))
    assert all(r["headers"] == {"agent": "A"} for r in records)


def test_receivers_are_partitions(flume_agent: Agent, tmp_path: Path) -> None:
    first = free_ports(1)[0]
    while first + 1 in {0} or not _free(first + 1):
        first = free_ports(1)[0]
    source = open_source(tmp_path / "ckpt", port=first, receivers=2, format="json")
    try:
        assert source.partitions() == ["0", "1"] and source.ports == [first, first + 1]
        for name, port in zip("AB", source.ports, strict=True):
            flume_agent(**tagged(name, port=port, events=300))
        logs = drain(source, 600)
    finally:
        source.close()
    for partition, name in (("0", "A"), ("1", "B")):
        assert sorted(r["body"] for r in logs[partition]) == list(range(300))  # json: ints
        assert {r["headers"]["agent"] for r in logs[partition]} == {name}


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_deflate_compressed_agent(flume_agent: Agent) -> None:
    source = open_source(None, port=0, compression="deflate")  # no checkpoint: memory log
    try:
        flume_agent(port=source.ports[0], events=500, compression="deflate")
        records = drain(source, 500)["0"]
    finally:
        source.close()
    assert sorted(int(r["body"]) for r in records) == list(range(500))


def test_bodies_that_do_not_decode_are_dead_letters(flume_agent: Agent, tmp_path: Path) -> None:
    source = open_source(tmp_path / "ckpt", port=0, format="json")
    netcat = free_ports(1)[0]
    try:
        agent = flume_agent(port=source.ports[0], source="netcat", netcat_port=netcat,
                            batch_size=1).wait_started()
        with socket.create_connection(("127.0.0.1", netcat)) as conn:
            conn.sendall(b'{"ok": 1}\n{oops\n{"ok": 2}\n')
            assert wait_until(lambda: source.available("0") == 3, 60)
        # the netcat source decodes lines as text, so bytes that are not utf-8 come
        # from a Python Avro client (the avro package's Requestor) instead
        status = AvroClient(source.ports[0]).append_batch([({}, b"\xff\xfe")])
        assert status == "OK"
        records = drain(source, 4)["0"]
        assert agent.alive()
    finally:
        source.close()
    good = [r for r in records if not isinstance(r, Rejected)]
    bad = [r for r in records if isinstance(r, Rejected)]
    assert sorted(r["body"]["ok"] for r in good) == [1, 2]
    assert sorted(r.record["body"] for r in bad) == ["\\xff\\xfe", "{oops"]
    reasons = " | ".join(sorted(r.reason for r in bad))
    assert "not JSON" in reasons and "not valid utf-8" in reasons, reasons
    assert all("on port" in (r.origin or "") for r in bad)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # a buffer count no Avro frame has
    b"\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x05hello",  # a frame that is no call
    b"\x00\x00\x00\x01\x00\x00\x00\x01\x7f\xff\xff\xff",  # a buffer past max_frame_bytes
], ids=["http", "not-a-call", "huge-buffer"])
def test_malformed_frame_closes_that_connection_only(
        flume_agent: Agent, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        garbage: bytes) -> None:
    caplog.set_level(logging.WARNING, logger="etlcore.flume")
    source = open_source(tmp_path / "ckpt", port=0)
    try:
        flume_agent(port=source.ports[0], events=2000, batch_size=20)
        assert wait_until(lambda: source.available("0") > 0, 60)
        with socket.create_connection(("127.0.0.1", source.ports[0]), timeout=10) as raw:
            raw.sendall(garbage)
            assert raw.recv(100) == b""  # closed by the server, nothing answered
        records = drain(source, 2000)["0"]
    finally:
        source.close()
    assert sorted(int(r["body"]) for r in records) == list(range(2000))
    closing = [r.getMessage() for r in caplog.records if "closing connection" in r.getMessage()]
    assert len(closing) == 1, closing
    assert source.servers == [] and "on port" in closing[0]


def test_full_log_makes_the_agent_back_off_and_nothing_is_lost(
        flume_agent: Agent, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="etlcore.flume")
    source = open_source(tmp_path / "ckpt", port=0, max_unconsumed_bytes=2000)
    try:
        agent = flume_agent(port=source.ports[0], events=600, batch_size=50)
        assert wait_until(lambda: source.failed_calls > 0, 60), agent.tail()
        held = source.available("0")
        assert 0 < held < 600 and source.unconsumed_bytes("0") > 2000
        assert wait_until(lambda: "Unable to deliver event" in agent.log(), 30)
        time.sleep(2)
        assert source.available("0") == held  # the agent keeps its events meanwhile
        position = 0
        deadline = time.monotonic() + 240
        while position < 600 and time.monotonic() < deadline:  # a job consuming slowly
            end = source.plan("0", position, None)
            source.on_batch_committed({"0": end})
            position = end
            time.sleep(0.2)
        records = source.reader().read("0", 0, source.available("0"))
    finally:
        source.close()
    assert sorted(int(r["body"]) for r in records) == list(range(600))  # FAILED: never logged
    assert any("max_unconsumed_bytes" in r.getMessage() for r in caplog.records)


def test_bytes_format_is_base64(flume_agent: Agent) -> None:
    """format bytes: bodies are base64 text, so the log (JSON) holds any bytes."""
    source = open_source(None, port=0, format="bytes")
    try:
        flume_agent(port=source.ports[0], events=10)
        records = drain(source, 10)["0"]
    finally:
        source.close()
    assert sorted(int(base64.b64decode(r["body"])) for r in records) == list(range(10))
    assert json.loads(json.dumps(records)) == records


def test_tls_agent(flume_agent: Agent, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, password="pw")
    source = open_source(tmp_path / "ckpt", port=0, ssl=True, ssl_certfile=str(cert),
                         ssl_keyfile=str(key), ssl_key_password="pw")
    try:
        flume_agent(port=source.ports[0], events=500, ssl=True)
        records = drain(source, 500)["0"]
    finally:
        source.close()
    assert sorted(int(r["body"]) for r in records) == list(range(500))


def test_tls_refuses_a_plain_client(flume_agent: Agent, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    """An agent without ssl cannot deliver to a TLS receiver: logged, nothing stored."""
    caplog.set_level(logging.WARNING, logger="etlcore.flume")
    cert, key = self_signed(tmp_path)
    source = open_source(None, port=0, ssl=True, ssl_certfile=str(cert), ssl_keyfile=str(key))
    try:
        agent = flume_agent(port=source.ports[0], events=10)
        assert wait_until(lambda: "TLS handshake failed" in caplog.text, 60), agent.tail()
        assert source.available("0") == 0
    finally:
        source.close()


def test_a_key_that_does_not_load_is_a_config_error(tmp_path: Path) -> None:
    from etlcore.errors import ConfigError

    cert, key = self_signed(tmp_path, password="right")
    with pytest.raises(ConfigError) as err:
        parse_config(FlumeSourceConfig, {"port": 0, "ssl": True, "ssl_certfile": str(cert),
                                         "ssl_keyfile": str(key),
                                         "ssl_key_password": "wrong"}, "flume")
    assert err.value.key == "flume.ssl_keyfile" and "wrong" not in str(err.value)


def test_a_missing_avro_library_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    from etlcore.plugin.imports import MissingDependencyError

    monkeypatch.setitem(sys.modules, "avro", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "etlcore_flume.protocol", raising=False)
    for name in [m for m in sys.modules if m.startswith("avro.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingDependencyError) as err:
        importlib.import_module("etlcore_flume.protocol")
    assert "pip install 'avro>=1.11'" in str(err.value) and "flume source" in str(err.value)


def test_single_append_from_another_avro_client(tmp_path: Path) -> None:
    """``append`` (one event), from a client whose protocol hash is not Java's (NONE, CLIENT)."""
    source = open_source(tmp_path / "ckpt", port=0, format="json")
    try:
        client = AvroClient(source.ports[0])
        assert client.append({"k": "v"}, b'{"n": 1}') == "OK"
        assert client.append_batch([({}, b"2"), ({}, b"3")]) == "OK"
        records = drain(source, 3)["0"]
    finally:
        source.close()
    assert records == [{"headers": {"k": "v"}, "body": {"n": 1}}, {"headers": {}, "body": 2},
                       {"headers": {}, "body": 3}]


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"receiver 1 cannot listen on 127.0.0.1:{port}"):
            open_source(tmp_path / "ckpt", ports=[0, port])
