"""Helpers of the dashboard plugin tests: read the page over HTTP as a script would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    """(status, body, headers) of a GET, HTTP errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def page_state(url: str, token: str | None = None) -> dict[str, Any]:
    """The page's panels as ``/api/state`` serves them."""
    query = f"?token={token}" if token else ""
    status, body, _ = fetch(f"{url}api/state{query}")
    assert status == 200, body
    return json.loads(body)


def panel(state: dict[str, Any], panel_id: str) -> dict[str, Any]:
    found = [p["panel"] for p in state["panels"] if p["id"] == panel_id]
    assert found, f"no panel {panel_id!r} on the page: {[p['id'] for p in state['panels']]}"
    return found[0]


# -- the browser ---------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SETUP_HINT = ("the browser tests need Debian's chromium and chromium-driver and selenium: "
              "bash .ci/install-services.sh")


def chrome() -> Any:
    """A headless Chromium (Debian's package, no browser download) with its network log on."""
    import os
    import shutil

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch a driver
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        raise AssertionError(f"{SETUP_HINT} ({err})") from None
    binary = shutil.which("chromium") or CHROMIUM
    driver_path = shutil.which("chromedriver") or CHROMEDRIVER
    assert os.path.exists(binary) and os.path.exists(driver_path), SETUP_HINT
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--metrics-recording-only", "--disable-default-apps"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    return driver


def requests_made(driver: Any) -> list[str]:
    """URLs the page requested since the last call (Network.requestWillBeSent, CDP)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def browser_errors(driver: Any) -> list[str]:
    """Console errors since the last call (a CSP violation, a script error)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(driver: Any, script: str, *args: Any, timeout: float = 60.0) -> Any:
    """Run ``script`` in the page until it returns something truthy; return that."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script, *args),
        message=f"timed out after {timeout:g}s waiting for: {script}")
