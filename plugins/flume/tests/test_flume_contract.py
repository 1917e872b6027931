"""The flume source under etlcore's contract kit, fed by a real Flume agent.

Each source (and each restart: ``port: 0`` binds a new port) gets a Flume
agent with a netcat source whose avro sink delivers to it; ``produce`` types
lines into the agent and returns once the source logged them.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from flume_testlib import free_ports, wait_until

from etlcore.contract import REMOVE, SourceContract, Target
from etlcore.source import Source

pytestmark = pytest.mark.services


class TestFlumeSource(SourceContract):
    plugin_name = "flume"
    max_records = 4

    def config(self, path: Path) -> dict[str, Any]:
        return {"port": 0, "format": "text"}

    def bad_config(self, target: Target) -> dict[str, Any]:
        return {**target.config, "format": "json"}

    def _send(self, source: Source, lines: list[str]) -> None:
        """Type ``lines`` into an agent delivering to ``source``; wait until all are logged."""
        port = source.ports[0]  # type: ignore[attr-defined]
        agents = self.__dict__.setdefault("_agents", {})
        if port not in agents:
            netcat = free_ports(1)[0]
            start = self.request.getfixturevalue("flume_agent")
            agents[port] = (start(port=port, source="netcat", netcat_port=netcat,
                                  batch_size=10).wait_started(), netcat)
        agent, netcat = agents[port]
        before = source.available("0")
        with socket.create_connection(("127.0.0.1", netcat), timeout=10) as conn:
            conn.sendall("".join(f"{line}\n" for line in lines).encode())
            assert wait_until(lambda: source.available("0") >= before + len(lines), 60), (
                agent.tail())

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        lines = [f"round {round} line {i}" for i in range(7)]
        self._send(source, lines)
        return [{"headers": {}, "body": line} for line in lines]

    def produce_bad(self, source: Source) -> list[Any]:
        """With format json, a body that is not JSON is a dead letter (headers, raw body)."""
        self._send(source, ['{"ok": true}', "{oops"])
        return [{"headers": {}, "body": "{oops"}]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"port": 70000}, "port"), ({"port": REMOVE}, "port"),
                ({"ports": [41414]}, "ports"),
                ({"port": REMOVE, "ports": [5000, 5000]}, "ports"),
                ({"port": REMOVE, "ports": [5000, 99999]}, "ports[1]"),
                ({"receivers": 0}, "receivers"), ({"format": "xml"}, "format"),
                ({"compression": "snappy"}, "compression"), ({"host": " "}, "host"),
                ({"max_unconsumed_bytes": 0}, "max_unconsumed_bytes"),
                ({"max_frame_bytes": 10}, "max_frame_bytes"),
                ({"ssl": True}, "ssl_certfile"),
                ({"ssl": True, "ssl_certfile": "/no/such/cert.pem"}, "ssl_certfile")]
