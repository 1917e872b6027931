"""The dashboard page in a real browser (headless Chromium from Debian, driven by selenium).

Each test saves a screenshot under its pytest tmp dir. Jobs run on a manual
clock; the page is kept up between jobs by holding its server (as a second
sink on the same host/port would), so what the browser must show is known
from the job's own output before the test looks.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from dashboard_testlib import browser_errors, requests_made, wait_for
from etlcore_dashboard.server import DashboardServer, acquire, release

from etlcore import StreamingContext
from etlcore.job.demo import demo_job

PANEL = "return document.querySelector(`section[data-panel-id='${arguments[0]}']`);"
TIME = ("const s = document.querySelector(`section[data-panel-id='${arguments[0]}']`);"
        "return s && s.dataset.batchTime;")
BAR = """
const s = document.querySelector(`section[data-panel-id='${arguments[0]}']`);
if (!s || s.dataset.batchTime !== arguments[1]) return null;
const gd = s.querySelector('.chart');
if (!gd.data || !gd.data.length) return null;
return {keys: gd.data[0].y, values: gd.data[0].x,
        ticks: [...s.querySelectorAll('.ytick text')]  // top to bottom, as drawn
          .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
          .map(t => t.textContent)};
"""
TEXT = """
const s = document.querySelector(`section[data-panel-id='${arguments[0]}']`);
return s && s.dataset.batchTime === arguments[1] ? s.querySelector(arguments[2]).textContent : null;
"""


@pytest.fixture
def page() -> Iterator[DashboardServer]:
    """A page on a free port, up until the test ends; sinks with ``port=0`` join it."""
    server = acquire("127.0.0.1", 0, None)
    yield server
    release(server)


@pytest.fixture
def browser_(browser: Any) -> Iterator[Any]:
    """The session's browser with its logs drained, on a blank page, cookies gone."""
    browser.get("about:blank")
    browser.delete_all_cookies()
    requests_made(browser)
    browser_errors(browser)
    yield browser


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    assert path.stat().st_size > 1000
    return path


def assert_only_loopback(driver: Any, refused: bool = False) -> list[str]:
    """Every request the page made went to 127.0.0.1; no console errors (CSP, scripts).

    ``refused``: the 401 answers the test asked for are not errors.
    """
    urls = requests_made(driver)
    outside = [u for u in urls if urlsplit(u).scheme not in ("data", "blob")
               and urlsplit(u).hostname != "127.0.0.1"]
    assert not outside, f"requests outside 127.0.0.1: {outside}"
    errors = [e for e in browser_errors(driver) if not (refused and "401 (Unauthorized)" in e)]
    assert not errors
    return urls


def latest_window(db: Path) -> tuple[str, list[tuple[str, int]]]:
    """The newest window in the demo's SQLite output, its counts largest first."""
    with sqlite3.connect(db) as conn:
        (end,) = conn.execute("SELECT MAX(window_end) FROM hashtag_counts").fetchone()
        rows = conn.execute("SELECT tag, count FROM hashtag_counts WHERE window_end = ? "
                            "ORDER BY count DESC, tag", (end,)).fetchall()
    return end, rows


def window_totals(db: Path) -> list[float]:
    with sqlite3.connect(db) as conn:
        return [float(n) for (n,) in conn.execute(
            "SELECT SUM(count) FROM hashtag_counts GROUP BY window_end ORDER BY window_end")]


def check_demo_page(driver: Any, db: Path) -> str:
    """The bar, number and line panels show the newest window of the demo's output."""
    end, rows = latest_window(db)
    stamp = f"{end}.000"  # the panel's batch time; the sink stamps window_end with it
    bar = wait_for(driver, BAR, "demo/dashboard", stamp)
    top = rows[:10]
    assert bar["keys"] == [tag for tag, _ in top]
    assert bar["values"] == [float(n) for _, n in top]
    assert bar["ticks"] == [tag for tag, _ in top]  # drawn, in that order
    total = wait_for(driver, TEXT, "demo/dashboard-2", stamp, ".number")
    assert total == str(sum(n for _, n in rows))
    line = wait_for(driver, """
        const s = document.querySelector(`section[data-panel-id='demo/dashboard-3']`);
        return s && s.dataset.batchTime === arguments[0] ? s.querySelector('.chart').data[0].y
                                                         : null;""", stamp)
    assert line == window_totals(db)
    return stamp


def test_the_demo_page_shows_the_jobs_output_and_updates_on_the_next_batch(
        page: DashboardServer, browser_: Any, tmp_path: Path):
    out = tmp_path / "demo"
    demo_job(out, dashboard=True, dashboard_port=0).build(clock="manual").run(batches=4)
    browser_.get(page.url)
    first = check_demo_page(browser_, out / "demo.db")
    assert browser_.find_element("id", "title").text == "demo"
    browser_.execute_script("window.sameDocument = true;")
    screenshot(browser_, tmp_path, "dashboard-demo")
    demo_job(out, dashboard=True, dashboard_port=0).build(clock="manual").run(batches=2)
    second = check_demo_page(browser_, out / "demo.db")  # pushed: no reload
    assert second > first
    assert browser_.execute_script("return window.sameDocument === true;")
    screenshot(browser_, tmp_path, "dashboard-demo-next")
    urls = assert_only_loopback(browser_)
    assert any(u.endswith("/static/plotly.min.js") for u in urls)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def number_job(name: str, value: int, port: int, **config: Any) -> StreamingContext:
    ctx = StreamingContext(1.0, clock="manual", name=name)
    ctx.queue_stream([[value]]).sink("dashboard", panel="number", title=name, port=port, **config)
    return ctx


def test_the_page_reconnects_after_the_server_restarts(browser_: Any, tmp_path: Path):
    port = free_port()
    server = acquire("127.0.0.1", port, None)
    try:
        number_job("before", 41, port).run(until_idle=True)
        browser_.get(server.url)
        time = wait_for(browser_, TIME, "before/dashboard")
        assert wait_for(browser_, TEXT, "before/dashboard", time, ".number") == "41"
        browser_.execute_script("window.sameDocument = true;")
    finally:
        release(server)  # the server stops: the page loses its stream
    wait_for(browser_, "return document.getElementById('status').dataset.state === "
                       "'reconnecting';")
    screenshot(browser_, tmp_path, "dashboard-reconnecting")
    server = acquire("127.0.0.1", port, None)  # a new server (a restarted job) on the same port
    try:
        number_job("after", 42, port).run(until_idle=True)
        time = wait_for(browser_, TIME, "after/dashboard")
        assert wait_for(browser_, TEXT, "after/dashboard", time, ".number") == "42"
        assert browser_.execute_script("return window.sameDocument === true;")
        connections = browser_.find_element("tag name", "body").get_attribute("data-connections")
        assert int(connections) >= 2  # the same page, connected again
        assert browser_.execute_script(PANEL, "before/dashboard") is None  # the new page's panels
        screenshot(browser_, tmp_path, "dashboard-reconnected")
    finally:
        release(server)
    assert_only_loopback(browser_)


def test_a_missing_token_is_refused(browser_: Any, tmp_path: Path):
    token = "browser-token-7f3a"
    ctx = number_job("guarded", 7, 0, token=token)
    server = acquire("127.0.0.1", 0, token)
    try:
        ctx.run(until_idle=True)
        browser_.get(server.url)
        body = browser_.find_element("tag name", "body").text
        assert "needs its token" in body
        assert not browser_.find_elements("id", "panels")
        screenshot(browser_, tmp_path, "dashboard-refused")
        browser_.get(server.url + "events")
        assert "needs its token" in browser_.find_element("tag name", "body").text
        browser_.get(f"{server.url}?token=wrong-{token}")
        assert "needs its token" in browser_.find_element("tag name", "body").text
        browser_.get(f"{server.url}?token={token}")
        time = wait_for(browser_, TIME, "guarded/dashboard")
        assert wait_for(browser_, TEXT, "guarded/dashboard", time, ".number") == "7"
        assert browser_.execute_script("return typeof Plotly;") == "object"  # via the cookie
        screenshot(browser_, tmp_path, "dashboard-with-token")
    finally:
        release(server)
    assert_only_loopback(browser_, refused=True)


def test_an_injected_script_record_shows_as_text(page: DashboardServer, browser_: Any,
                                                 tmp_path: Path):
    script = "<script>window.pwned = 1</script>"
    image = "<img src=x onerror=\"window.pwned = 2\">"
    bold = "<b>bold</b> &amp; <a href='javascript:window.pwned=3'>link</a>"
    records = [{"tag": script, "count": 3}, {"tag": image, "count": 2}, {"tag": bold, "count": 1}]
    ctx = StreamingContext(1.0, clock="manual", name="inject")
    stream = ctx.queue_stream([records])
    stream.sink("dashboard", panel="table", title=script, port=0)
    stream.sink("dashboard", panel="bar", key="tag", value="count", title=image, port=0)
    ctx.run(until_idle=True)
    browser_.get(page.url)
    time = wait_for(browser_, TIME, "inject/dashboard")
    cells = wait_for(browser_, """
        const s = document.querySelector(`section[data-panel-id='inject/dashboard']`);
        return s && [...s.querySelectorAll('td')].map(td => td.textContent);""")
    assert [script, "3"] == cells[4:6] and [image, "2"] == cells[2:4] and [bold, "1"] == cells[:2]
    titles = browser_.execute_script("return [...document.querySelectorAll('h2')]"
                                     ".map(h => h.textContent);")
    assert titles == [script, image]
    bar = wait_for(browser_, BAR, "inject/dashboard-2", time)
    assert bar["ticks"] == [script, image, bold]  # Plotly drew the labels as text
    assert browser_.execute_script("return document.querySelectorAll("
                                   "'main script, main img, main b, main a').length;") == 0
    assert browser_.execute_script("return window.pwned === undefined;")
    screenshot(browser_, tmp_path, "dashboard-injected")
    urls = assert_only_loopback(browser_)
    assert not [u for u in urls if urlsplit(u).path == "/x"]  # the <img> never loaded
