"""Tiny plugin packages, installed for real: modules plus a ``*.dist-info`` in a site dir.

``importlib.metadata`` finds a dist-info on ``sys.path`` exactly as it finds
one pip wrote, so the registry sees these packages as installed: entry points,
package name, version, ``etlcore.provides``. Used in-process (the ``site``
fixture puts the dir on ``sys.path``) and by subprocesses (``PYTHONPATH``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

# A sink that keeps nothing: enough for a registry entry and a running job.
SINK_MODULE = '''
from dataclasses import dataclass

from etlcore.sink import CollectingSink


@dataclass
class JsonlConfig:
    path: str = "out.jsonl"


class JsonlSink(CollectingSink):
    def __init__(self, config: JsonlConfig):
        self.config = config

    def store(self, batch, records):
        pass
'''

WORKING = '''
from etlcore.plugin import hookimpl


@hookimpl
def etlcore_register_sinks(register):
    register.sink("jsonl", "{module}.sink:JsonlSink", "{module}.sink:JsonlConfig", "lines")
'''

IMPORT_FAILS = '''
import nosuch_orjson_xyz  # the package's own import fails

from etlcore.plugin import hookimpl


@hookimpl
def etlcore_register_sinks(register):
    register.sink("jsonl", "{module}.sink:JsonlSink", "{module}.sink:JsonlConfig")
'''

HOOK_IMPORTS_MISSING = '''
from etlcore.plugin import hookimpl


@hookimpl
def etlcore_register_sources(register):
    register.source("jsonl-in", "{module}.sink:JsonlSink", "{module}.sink:JsonlConfig")


@hookimpl
def etlcore_register_sinks(register):
    from nosuch_orjson_xyz import dumps  # an old-style eager import in the hook
    register.sink("jsonl", dumps, "{module}.sink:JsonlConfig")
'''

MISSPELLED = '''
from etlcore.plugin import hookimpl


@hookimpl
def etlcore_register_sink(register):
    register.sink("jsonl", "{module}.sink:JsonlSink", "{module}.sink:JsonlConfig")
'''

NO_HOOKIMPL = '''
def etlcore_register_sinks(register):
    register.sink("jsonl", "{module}.sink:JsonlSink", "{module}.sink:JsonlConfig")
'''

# The connector module needs a library that is missing; its config module does not.
LAZY_MISSING_LIB = '''
from etlcore.plugin import hookimpl


@hookimpl
def etlcore_register_sinks(register):
    register.sink("jsonl", "{module}.heavy:HeavySink", "{module}.sink:JsonlConfig")
    register.sink("jsonl-auto", "{module}.sink:JsonlSink")  # config from the annotation
'''

HEAVY_MODULE = '''
from etlcore.plugin import require

require("nosuch_orjson_xyz", package="orjson-xyz", plugin="etlcore-lazy")

from {module}.sink import JsonlSink as HeavySink  # noqa: E402
'''


def install(site: Path, dist: str, body: str, *, ep: str = "jsonl", version: str = "1.0",
            provides: dict[str, str] | None = None, heavy: bool = False) -> str:
    """Write package ``dist`` (module ``dist`` with ``-`` as ``_``) into ``site``; its module."""
    module = dist.replace("-", "_")
    pkg = site / module
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(body).format(module=module))
    (pkg / "sink.py").write_text(SINK_MODULE)
    if heavy:
        (pkg / "heavy.py").write_text(HEAVY_MODULE.format(module=module))
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    points = f"[etlcore]\n{ep} = {module}\n"
    if provides:
        points += "\n[etlcore.provides]\n" + "".join(f"{k} = {v}\n" for k, v in provides.items())
    (info / "entry_points.txt").write_text(points)
    return module
