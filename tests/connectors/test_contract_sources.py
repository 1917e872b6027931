"""The built-in sources under the contract kit (etlcore.contract): queue, generator, directory, socket."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from etlcore.contract import REMOVE, SourceContract, Target
from etlcore.source import Rejected, Source

T0 = 1_700_000_000.0


class TestQueueSource(SourceContract):
    """The queue lives in the driver's memory: the driver reads, and a restart has only
    the configured batches (which is all a replay needs)."""

    plugin_name = "queue"
    reads_on_driver = True

    def config(self, path: Path) -> dict[str, Any]:
        return {"batches": [[1, 2], [3], [{"four": 4}, [5, 6]]]}

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        if round == 0:
            return [1, 2, 3, {"four": 4}, [5, 6]]
        source.push(["later"])  # type: ignore[attr-defined]
        return ["later"]

    def produce_bad(self, source: Source) -> list[Any]:
        """Queued records pass as given, Rejected markers included (dead-lettered)."""
        source.push([1, Rejected(b"\xff", "not utf-8"), 2])  # type: ignore[attr-defined]
        return [b"\xff"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"batches": 3}, "batches"), ({"one_at_a_time": "yes"}, "one_at_a_time")]


class TestGeneratorSource(SourceContract):
    """Records come from (seed, partition, offset): any range regenerates on any worker."""

    plugin_name = "generator"
    bad_input_policy = "pass"

    def config(self, path: Path) -> dict[str, Any]:
        return {"kind": "tweets", "rate": 20, "partitions": 2, "limit": 20, "start_time": T0}

    def produce(self, source: Source, round: int) -> None:  # noqa: A002
        source.ctx.clock.advance(1.0)  # type: ignore[attr-defined]  # 10 records per partition
        return None  # (records unknown in advance; the kit checks none is read twice)

    def bad_config(self, target: Target) -> dict[str, Any]:
        return {**target.config, "bad_ratio": 1.0, "partitions": 1, "limit": 4}

    def produce_bad(self, source: Source) -> list[Any]:
        """Malformed records come through as they are, for a cleanse step to refuse."""
        return list(source.reader().read("0", 0, 4))

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"kind": "cats"}, "kind"), ({"rate": 0}, "rate"), ({"partitions": 0}, "partitions"),
                ({"bad_ratio": 2}, "bad_ratio"), ({"kind": REMOVE}, "kind")]


class TestDirectorySource(SourceContract):
    plugin_name = "directory"
    bad_input_policy = "reject"

    def config(self, path: Path) -> dict[str, Any]:
        (path / "in").mkdir()
        return {"path": str(path / "in"), "format": "json", "max_files_per_batch": 1}

    def _drop(self, source: Source, name: str, lines: list[str]) -> None:
        folder = Path(source.config.path)  # type: ignore[attr-defined]
        tmp = folder / f".{name}"
        tmp.write_text("".join(f"{line}\n" for line in lines))
        os.replace(tmp, folder / name)  # write-then-rename, as the source asks of writers

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        records = [{"round": round, "i": i} for i in range(5)]
        self._drop(source, f"r{round}-a.json", [json.dumps(r) for r in records[:3]])
        self._drop(source, f"r{round}-b.json", [json.dumps(r) for r in records[3:]])
        return records

    def produce_bad(self, source: Source) -> list[Any]:
        """Lines that are not strict JSON are dead letters holding the raw line."""
        self._drop(source, "bad.json", ['{"ok": 1}', "{not json", '"fine"', '{"n": NaN}'])
        return ["{not json", '{"n": NaN}']

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": ""}, "path"), ({"format": "xml"}, "format"),
                ({"max_files_per_batch": 0}, "max_files_per_batch"),
                ({"encoding": "klingon"}, "encoding")]


class TestDirectorySourceSplit(TestDirectorySource):
    """Files cut into byte ranges of a few lines, dealt to two partitions."""

    def config(self, path: Path) -> dict[str, Any]:
        return {**super().config(path), "split_bytes": 24, "partitions": 2}

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [*super().bad_configs(), ({"split_bytes": 0}, "split_bytes"),
                ({"partitions": 0}, "partitions")]


class TestSocketSource(SourceContract):
    """A receiver: lines are logged under the checkpoint before they are acknowledged."""

    plugin_name = "socket"
    bad_input_policy = "reject"

    def config(self, path: Path) -> dict[str, Any]:
        return {"port": 0, "mode": "listen", "ack": True}

    def _send(self, source: Source, data: bytes, lines: int) -> None:
        port = source.port  # type: ignore[attr-defined]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(data)
            reply = conn.makefile("rb").readline()
        assert reply == f"ACK {lines}\n".encode(), reply

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        lines = [f"round {round} line {i}" for i in range(7)]
        self._send(source, "".join(f"{line}\n" for line in lines).encode(), len(lines))
        return lines

    def produce_bad(self, source: Source) -> list[Any]:
        """A line that is not UTF-8 is logged and acked, then read back as a dead letter."""
        self._send(source, b"caf\xe9\nok\n", 2)
        return ["caf\\xe9"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"mode": "connect"}, "port"), ({"port": 70000}, "port"),
                ({"ack": True, "mode": "connect", "port": 9}, "ack"),
                ({"encoding": "klingon"}, "encoding")]
