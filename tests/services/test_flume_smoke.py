"""Smoke test: the harness launches a Flume agent whose avro sink reaches our port.

A plain listener (no Avro library) sees the agent connect and send a Netty
frame (serial 1) holding an ``appendBatch`` call; the agent is stopped after.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.services


def test_agent_sends_an_avro_call(flume_agent: Callable[..., Any]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        agent = flume_agent(port=server.getsockname()[1], events=10, batch_size=10)
        conn, _ = server.accept()
        with conn:
            conn.settimeout(30)
            data = b""
            while len(data) < 8 or b"appendBatch" not in data:
                chunk = conn.recv(65536)
                assert chunk, f"agent closed the connection; its log:\n{agent.tail()}"
                data += chunk
        serial, count = struct.unpack(">ii", data[:8])
        assert (serial, count) == (1, 2), data[:64].hex()
    assert agent.alive(), agent.tail()
    agent.stop()
    assert not agent.alive()
