"""One headless Chromium (Debian's chromium + chromium-driver) for the whole session.

Selenium drives it through the system chromedriver (no browser download: the
driver path is given, so Selenium Manager never runs). Chrome's performance
log records every network request a page makes (CDP ``Network`` events), so a
test can check that a page asked nothing of any host but 127.0.0.1.
Install: ``apt-get install chromium chromium-driver`` (.ci/install-services.sh).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_BINARIES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")  # the real binary first
_DRIVERS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    found = next((p for p in paths if os.access(p, os.X_OK)), None)
    return found or shutil.which(name)


class Browser:
    """The session's Chromium, with the requests it made and screenshots."""

    def __init__(self, driver: Any):
        self.driver = driver

    def reset(self) -> None:
        """A fresh start for a test: no cookies (they ignore ports), no old log entries."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get("about:blank")
        self.requests()

    def requests(self) -> list[str]:
        """URLs requested since the last call (the performance log is read once)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def screenshot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = _first(_BINARIES, "chromium")
    driver_path = _first(_DRIVERS, "chromedriver")
    if binary is None or driver_path is None:
        pytest.fail("headless Chromium is not installed: apt-get install -y chromium "
                    "chromium-driver (bash .ci/install-services.sh does it)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1600", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
