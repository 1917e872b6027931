"""Flume end to end: events/s from a real Flume agent through etlcore, against Flume's ceiling.

In the same run, a Flume 1.11 agent (``seq`` source, memory channel, avro
sink) delivers N events
(1) to a null receiver: the plugin's Avro RPC server acknowledging every call
    without logging it (what the agent and the RPC layer can do at all), and
(2) to an etlcore job: the flume source (decode, fsync to the receiver log
    before ``OK``) -> files sink, checkpointed.
Rates count from the first event received to the last one received (1) or
committed to the files sink (2), so the JVM's start is left out. Needs the
Flume jars (``python scripts/services/svc.py fetch flume``) and the flume plugin.

    python benchmarks/flume.py --events 200000 [--batch-size 100] [--receivers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "services"))
sys.path.insert(0, str(ROOT))

from etlcore_flume.server import AvroRpcServer  # noqa: E402
from svcharness.flume import AgentConfig, FlumeAgent  # noqa: E402


def _agents(ports: list[int], events: int, batch: int, work: Path) -> list[FlumeAgent]:
    per = events // len(ports)
    return [FlumeAgent(AgentConfig(port=port, events=per, batch_size=batch),
                       work / f"agent-{i}").start() for i, port in enumerate(ports)]


def null_receiver(events: int, batch: int, receivers: int, work: Path) -> dict[str, Any]:
    """Events/s the agents deliver to servers that acknowledge without logging."""
    lock = threading.Lock()
    got = {"n": 0, "first": 0.0, "last": 0.0}

    def deliver(batch_events: list[dict[str, Any]], peer: str) -> str:
        now = time.perf_counter()
        with lock:
            got["first"] = got["first"] or now
            got["n"] += len(batch_events)
            got["last"] = now
        return "OK"

    servers = [AvroRpcServer("127.0.0.1", 0, deliver, name=f"null-{i}").start()
               for i in range(receivers)]
    agents = _agents([s.port for s in servers], events, batch, work / "null")
    want = events // receivers * receivers
    try:
        deadline = time.monotonic() + 600
        while got["n"] < want and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for agent in agents:
            agent.stop()
        for server in servers:
            server.stop()
    seconds = got["last"] - got["first"]
    return {"case": "null receiver (Flume's ceiling)", "events": got["n"],
            "seconds": round(seconds, 3), "events_per_s": round(got["n"] / seconds)}


def etlcore_job(events: int, batch: int, receivers: int, work: Path) -> dict[str, Any]:
    """Events/s through a checkpointed flume -> files job, first receipt to last commit."""
    from etlcore import StreamingContext

    ckpt, out = work / "ckpt", work / "out"
    ctx = StreamingContext(0.2, ckpt, name="flume-bench")
    port = _free_port_run(receivers)
    ctx.source("flume", port=port, receivers=receivers, format="text").sink(
        "files", path=str(out))
    want = events // receivers * receivers
    seen = {"n": 0, "last": 0.0}

    def listener(m: Any) -> None:
        seen["n"] += m.records_in
        if seen["n"] >= want:
            seen["last"] = time.perf_counter()
            ctx.stop()

    ctx.add_listener(listener)
    first = {"t": 0.0}

    def watch_first() -> None:  # the first event logged by any receiver
        while not first["t"]:
            if any(p.stat().st_size for p in ckpt.rglob("received.jsonl")):
                first["t"] = time.perf_counter()
            time.sleep(0.005)

    agents: list[FlumeAgent] = []

    def start_agents() -> None:
        time.sleep(1.0)  # the job binds its ports first
        agents.extend(_agents([port + i for i in range(receivers)], events, batch,
                              work / "agents"))

    threading.Thread(target=watch_first, daemon=True).start()
    threading.Thread(target=start_agents, daemon=True).start()
    try:
        ctx.run()
    finally:
        first["t"] = first["t"] or time.perf_counter()
        for agent in agents:
            agent.stop()
    written = sum(len(p.read_text().splitlines()) for p in out.rglob("part-*")
                  if not p.name.startswith("."))
    seconds = seen["last"] - first["t"]
    return {"case": "etlcore: flume source -> files sink", "events": written,
            "seconds": round(seconds, 3), "events_per_s": round(written / seconds)}


def _free_port_run(n: int) -> int:
    """A first port with ``n - 1`` free ports after it."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + n > 65535:
            continue
        free = True
        for port in range(first, first + n):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200000)
    parser.add_argument("--batch-size", type=int, default=100, help="the avro sink's batch-size")
    parser.add_argument("--receivers", type=int, default=1, help="agents and receiver ports")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="flume-bench-") as tmp:
        for case in (null_receiver, etlcore_job):
            row = case(args.events, args.batch_size, args.receivers, Path(tmp) / case.__name__)
            row |= {"batch_size": args.batch_size, "receivers": args.receivers}
            rows.append(row)
            print(f"{row['case']:<40} {row['events']:>8} events in {row['seconds']:>7.2f}s"
                  f" = {row['events_per_s']:>8,} events/s", flush=True)
    ratio = rows[1]["events_per_s"] / rows[0]["events_per_s"]
    print(f"etlcore reaches {ratio:.0%} of the agent's delivery ceiling")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
