"""``etlcore plugins``: what sources and sinks are installed, their settings, and what is wrong.

Built on ``Registry.describe()``, which already redacts secret defaults and
imports config classes only (never connectors). Plugins that are broken or
blocked, and names two plugins register, are listed with the reason rather
than failing the listing: this command is where users go to find out why a
job says a plugin cannot be used.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from etlcore.plugin.registry import get_registry


def _keys(config: list[dict[str, Any]]) -> str:
    return ", ".join(f"{c['name']}{'*' if c['required'] else ''}" for c in config) or "-"


def _what(row: dict[str, Any]) -> str:
    return f"plugin {row['name']}" if row["kind"] == "plugin" else f"{row['kind']} {row['name']}"


def show_plugins(as_json: bool) -> None:
    """Print every plugin: a JSON list, or tables (``*`` marks a required setting).

    JSON rows are sources and sinks (``kind`` source/sink) and plugins that did
    not load (``kind`` plugin); each has ``status`` (ok, conflict, broken,
    blocked) and ``reason``.
    """
    rows = get_registry().describe()
    if as_json:
        json.dump(rows, sys.stdout, indent=2, default=repr)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="etlcore plugins (* = required setting)", title_justify="left")
    for column in ("name", "kind", "package", "version", "config keys"):
        table.add_column(column, overflow="fold")
    for p in rows:
        if p["status"] == "ok":
            table.add_row(p["name"], p["kind"], p["package"], p["version"], _keys(p["config"]))
    console.print(table)
    problems = [p for p in rows if p["status"] != "ok"]
    if not problems:
        return
    bad = Table(title="not usable (jobs that use them fail; other jobs run)",
                title_justify="left")
    for column in ("what", "package", "status", "reason"):
        bad.add_column(column, overflow="fold")
    for p in problems:
        reason = f"{p['reason']}; {p['fix']}" if p.get("fix") else p["reason"]
        bad.add_row(_what(p), f"{p['package']} {p['version']}".strip(), p["status"], reason)
    console.print(bad)
