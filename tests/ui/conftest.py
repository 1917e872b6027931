"""Fixtures of the UI tests: the CLI runner, and one headless Chromium for the session."""

from __future__ import annotations

from tests.cli.conftest import cli  # noqa: F401 - the `cli` fixture, shared with tests/cli
from tests.ui.browser import browser  # noqa: F401 - session-scoped headless Chromium
