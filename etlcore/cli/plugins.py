"""``etlcore plugins``: what sources and sinks are installed, and their settings.

Built on ``Registry.describe()``, which already redacts secret defaults.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from etlcore.plugin.registry import get_registry


def _keys(config: list[dict[str, Any]]) -> str:
    return ", ".join(f"{c['name']}{'*' if c['required'] else ''}" for c in config) or "-"


def show_plugins(as_json: bool) -> None:
    """Print every plugin: a JSON list, or a table (``*`` marks a required setting)."""
    plugins = get_registry().describe()
    if as_json:
        json.dump(plugins, sys.stdout, indent=2, default=repr)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="etlcore plugins (* = required setting)", title_justify="left")
    for column in ("name", "kind", "package", "version", "config keys"):
        table.add_column(column, overflow="fold")
    for p in plugins:
        table.add_row(p["name"], p["kind"], p["package"], p["version"], _keys(p["config"]))
    Console().print(table)
