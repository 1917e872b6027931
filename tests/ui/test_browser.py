"""The web UI in a real browser (headless Chromium): what it shows is what the job did.

Each test saves a screenshot under its pytest tmp dir (``ui.png``, ``batch.png``...).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from etlcore import StreamingContext
from etlcore.connectors.queue import MemorySink
from etlcore.ui import attach

from . import jobs

WAIT_S = 60  # generous: CI shares its cores


def wait(browser, condition, what: str):
    return WebDriverWait(browser.driver, WAIT_S, poll_frequency=0.2).until(
        lambda d: condition(d), message=f"waited {WAIT_S}s for {what}")


_ROWS_JS = """
return Array.from(document.querySelectorAll('#batches tbody tr[data-batch-id]')).map(
    tr => [tr.dataset.batchId, Array.from(tr.cells).map(td => td.textContent)]);
"""


def table_rows(driver) -> dict[int, list[str]]:
    """The batch table, batch id -> cell texts (read in one go: the page redraws it)."""
    return {int(batch_id): cells for batch_id, cells in driver.execute_script(_ROWS_JS)}


def only_local(urls: list[str], port: int) -> None:
    assert urls, "the browser's network log recorded the page's requests"
    outside = [u for u in urls if not u.startswith(("data:", "blob:", "about:"))
               and (urlsplit(u).hostname, urlsplit(u).port) != ("127.0.0.1", port)]
    assert outside == [], f"requests outside 127.0.0.1:{port}"


@pytest.fixture
def browser(browser):
    browser.reset()
    return browser


@pytest.fixture
def finished(request):
    """A job that ran 3 batches (manual clock) whose UI still serves."""
    sink = f"browser-{request.node.name}"
    ctx = StreamingContext(1.0, clock="manual", name="browser-job")
    jobs.build(ctx, jobs.lines(3), sink)
    ui = attach(ctx, {"port": 0, "token": getattr(request, "param", None)})
    try:
        ctx.run(batches=3)
        yield ctx, ui
    finally:
        ui.stop()
        MemorySink.clear(sink)


def test_page_shows_the_job_s_batches_and_updates_on_the_next(browser, tmp_path):
    sink = "browser-live"
    ctx = StreamingContext(0.5, name="browser-live", ui={"port": 0})
    jobs.build(ctx, jobs.lines(400), sink)
    ctx.start()
    try:
        url = ctx.ui.url
        port = ctx.ui.page.port
        driver = browser.driver
        driver.get(url)
        rows = wait(browser, lambda d: len(table_rows(d)) >= 2 and table_rows(d),
                    "two batch rows")
        driver.execute_script("window.__sameDocument = true")
        output = MemorySink.batches(sink)  # the job's own output
        ran = {b.batch_id: b for b in list(ctx.metrics.batches)}  # the job's own metrics
        for batch_id, cells in rows.items():
            b = ran[batch_id]
            assert cells[0] == str(batch_id)
            assert cells[2] == str(b.records_in) == "20"
            assert cells[7] == str(len(output.get(batch_id, [])))
            assert cells[8] == str(b.dead_letters)
            assert cells[9] == str(b.state_size)
        assert driver.find_element(By.ID, "job-name").text == "browser-live"
        # the timelines plot one point per batch shown, with the job's values
        plotted = wait(browser, lambda d: d.execute_script(
            "const c = document.getElementById('charts');"
            "return c.data ? c.data.map(t => t.y) : null"), "the charts")
        assert len(plotted) == 8  # a timeline and a histogram of 4 series
        assert plotted[0][:len(rows)] == [ran[i].input_rate for i in sorted(rows)]
        assert plotted[4][:len(rows)] == [ran[i].processing_s * 1000 for i in sorted(rows)]
        newest = max(rows)
        browser.screenshot(tmp_path, "ui")

        updated = wait(browser, lambda d: max(table_rows(d), default=-1) > newest and
                       table_rows(d), "a batch after the first ones, without a reload")
        assert driver.execute_script("return window.__sameDocument") is True  # no reload
        later = max(updated)
        ran = {b.batch_id: b for b in list(ctx.metrics.batches)}
        assert updated[later][2] == str(ran[later].records_in)
        assert updated[later][7] == str(len(MemorySink.batches(sink).get(later, [])))
        browser.screenshot(tmp_path, "ui-updated")
        only_local(browser.requests(), port)
    finally:
        ctx.stop()
        ctx.await_termination(60)
        MemorySink.clear(sink)


def test_batch_page_shows_plan_operators_sinks_and_dead_letters(browser, finished, tmp_path):
    ctx, ui = finished
    b = ctx.metrics.batches[1]
    driver = browser.driver
    driver.get(f"{ui.url}batch/1")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"),
         "the batch page")
    plan = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#plan tbody tr")]
    ((source, parts),) = b.plan.items()
    assert [row[:4] for row in plan] == [[source, p, str(r[0]), str(r[1])]
                                         for p, r in parts.items()]
    operators = {tr.find_elements(By.TAG_NAME, "td")[0].text:
                 tr.find_elements(By.TAG_NAME, "td")[1].text
                 for tr in driver.find_elements(By.CSS_SELECTOR, "#operators tbody tr")}
    for key, n in b.records_by_operator.items():
        assert operators[key] == str(n)
    sinks = [tr.find_elements(By.TAG_NAME, "td")[0].text
             for tr in driver.find_elements(By.CSS_SELECTOR, "#sinks tbody tr")]
    assert set(b.records_out) <= set(sinks)
    reasons = driver.find_elements(By.CSS_SELECTOR, "#dead-reasons tbody td")
    assert reasons[0].text in b.dead_letter_reasons
    browser.screenshot(tmp_path, "batch")
    only_local(browser.requests(), ui.page.port)


def test_a_script_in_a_record_shows_as_text_and_never_runs(browser, finished, tmp_path):
    ctx, ui = finished
    driver = browser.driver
    batch = next(b for b in ctx.metrics.batches if b.dead_letters)
    driver.get(f"{ui.url}batch/{batch.batch_id}")
    wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded"),
         "the batch page")
    cells = driver.find_elements(By.CSS_SELECTOR, "#dead-samples tbody tr td:last-child")
    assert cells and cells[0].text == jobs.BAD  # the markup, as characters
    assert driver.find_elements(By.CSS_SELECTOR, "#dead-samples script, #dead-samples img") == []
    assert driver.execute_script("return window.__pwned") is None
    browser.screenshot(tmp_path, "script-as-text")
    urls = browser.requests()
    assert not [u for u in urls if urlsplit(u).path.endswith("/x")]  # the <img src=x>
    only_local(urls, ui.page.port)


@pytest.mark.parametrize("finished", ["tok-3f9a"], indirect=True)
def test_a_missing_token_is_refused(browser, finished, tmp_path):
    ctx, ui = finished
    driver = browser.driver
    driver.get(ui.url)
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "401" in body and "token" in body
    assert driver.find_elements(By.ID, "batches") == []
    browser.screenshot(tmp_path, "token-refused")
    driver.get(ui.url + "?token=wrong")
    assert "401" in driver.find_element(By.TAG_NAME, "body").text

    driver.get(ui.url + "?token=tok-3f9a")  # sets the cookie the page's requests then carry
    rows = wait(browser, lambda d: len(table_rows(d)) == 3 and table_rows(d), "three rows")
    assert [rows[i][2] for i in range(3)] == [str(b.records_in) for b in ctx.metrics.batches]
    browser.screenshot(tmp_path, "token-accepted")
    only_local(browser.requests(), ui.page.port)
