"""The UI server over HTTP: its API serves the job's batches, tokens, headers, options."""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.error
import urllib.request

import pytest

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.errors import ConfigError, EtlcoreError
from etlcore.plugin.imports import MissingDependencyError
from etlcore.ui import attach

from . import jobs


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def finished_job(request):
    """A job that ran 3 batches with a UI (port chosen by the OS) still serving."""
    sink = f"srv-{request.node.name}"
    ctx = StreamingContext(1.0, clock="manual", name="srv")
    jobs.build(ctx, jobs.lines(3), sink)
    ui = attach(ctx, {"port": 0, "token": getattr(request, "param", None)})
    try:
        ctx.run(batches=3)
        yield ctx, ui, MemorySink.batches(sink)
    finally:
        ui.stop()
        MemorySink.clear(sink)


def test_api_serves_the_batches_the_job_ran(finished_job):
    ctx, ui, output = finished_job
    assert ui.url.startswith("http://127.0.0.1:")
    status, headers, body = get(ui.url + "api/batches")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    rows = json.loads(body)
    ran = list(ctx.metrics.batches)
    assert [r["batch_id"] for r in rows] == [0, 1, 2]
    assert [r["records_in"] for r in rows] == [b.records_in for b in ran] == [20, 20, 20]
    assert [r["dead_letters"] for r in rows] == [b.dead_letters for b in ran]
    assert [r["records_out"] for r in rows] == [len(output.get(i, [])) for i in range(3)]
    assert json.loads(get(ui.url + "api/batches?since=1")[2])[0]["batch_id"] == 2

    status, _, body = get(ui.url + "api/batches/1")
    one = json.loads(body)
    assert one["plan"] == ran[1].plan and one["plan"]["lines"]  # position ranges
    assert one["records_by_operator"] == ran[1].records_by_operator
    assert sum(one["dead_letter_reasons"].values()) == ran[1].dead_letters > 0
    assert one["dead_letter_samples"][0]["record"] == jobs.BAD
    assert get(ui.url + "api/batches/99")[0] == 404

    job = json.loads(get(ui.url + "api/job")[2])
    assert job["totals"]["records_in"] == ctx.metrics.total_records_in
    assert job["last"]["state_size"] == ran[-1].state_size == 5


def test_pages_and_assets_come_from_this_server(finished_job):
    _, ui, _ = finished_job
    for path, kind in [("", "text/html"), ("batch/1", "text/html"),
                       ("static/ui.js", "application/javascript"),
                       ("static/plotly.min.js", "application/javascript")]:
        status, headers, body = get(ui.url + path)
        assert status == 200 and headers["Content-Type"].startswith(kind), path
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert len(get(ui.url + "static/plotly.min.js")[2]) > 1_000_000  # the real library
    assert get(ui.url + "static/../server.py")[0] == 404


@pytest.mark.parametrize("finished_job", ["s3cret-token"], indirect=True)
def test_a_token_guards_every_route(finished_job):
    _, ui, _ = finished_job
    for path in ("", "api/job", "api/batches", "metrics", "static/plotly.min.js"):
        assert get(ui.url + path)[0] == 401, path
        assert get(ui.url + path + "?token=wrong")[0] == 401, path
        assert get(ui.url + path, {"Authorization": "Bearer s3cret-token"})[0] == 200, path
    status, headers, _ = get(ui.url + "?token=s3cret-token")
    assert status == 200 and "etlcore_ui_token=s3cret-token" in headers["Set-Cookie"]
    assert "HttpOnly" in headers["Set-Cookie"]
    assert get(ui.url + "api/job", {"Cookie": "etlcore_ui_token=s3cret-token"})[0] == 200


def test_bad_ui_settings_name_the_key_before_anything_runs():
    with pytest.raises(ConfigError, match="'ui.prot'"):
        StreamingContext(1.0, ui={"prot": 4040})
    with pytest.raises(ConfigError, match="'ui.port'.*TCP port"):
        StreamingContext(1.0, ui={"port": 70000})
    with pytest.raises(ConfigError, match="'ui'"):
        StreamingContext(1.0, ui="yes")


def test_a_taken_port_is_one_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ctx = StreamingContext(1.0, clock="manual", name="busy", ui={"port": port})
        ctx.queue_stream([[1]]).sink("memory", name="busy")
        with pytest.raises(EtlcoreError, match=f"cannot listen on 127.0.0.1:{port}"):
            ctx.run(batches=1)
    MemorySink.clear("busy")


def test_ui_of_the_context_serves_while_the_job_runs_and_stops_with_it(tmp_path):
    ctx = StreamingContext(0.2, tmp_path / "ckpt", name="live", ui={"port": 0})
    ctx.queue_stream([[1, 2], [3]] * 50).sink("memory", name="live")
    seen: list[int] = []
    ctx.add_listener(lambda m: seen.append(get(ctx.ui.url + "api/job")[0]))
    try:
        ctx.run(batches=2)
    finally:
        MemorySink.clear("live")
    assert seen == [200, 200]
    assert ctx.ui is None  # stopped with the run
    lines = (tmp_path / "ckpt" / "ui" / "batches.jsonl").read_text().splitlines()
    assert [json.loads(line)["records_in"] for line in lines] == [2, 1]


def test_a_missing_ui_library_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "aiohttp.web", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'etlcore\[ui\]'"):
        StreamingContext(1.0, ui=True)


def test_stalled_browsers_neither_stop_batches_nor_wedge_the_server(request):
    """Clients that never read a 4.8 MB answer, or never finish their request line."""
    sink = f"stall-{request.node.name}"
    ctx = StreamingContext(1.0, clock="manual", name="stall")
    jobs.build(ctx, jobs.lines(5), sink)
    ui = attach(ctx, {"port": 0})
    port = ui.page.port
    stalled = []
    try:
        for i in range(6):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if i % 2:
                conn.sendall(b"GET /static/plotly.min.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            else:
                conn.sendall(b"GET /api/job HTTP/1.1\r\nHo")  # never finished
            stalled.append(conn)
        done = []
        runner = threading.Thread(target=lambda: done.append(ctx.run(batches=5)), daemon=True)
        runner.start()
        runner.join(120)
        assert done, "the job did not finish its batches while browsers stalled"
        assert done[0].total_batches == 5
        overview = json.loads(get(ui.url + "api/job")[2])  # a well-behaved client still served
        assert overview["totals"]["batches"] == 5
    finally:
        for conn in stalled:
            conn.close()
        ui.stop()
        MemorySink.clear(sink)
