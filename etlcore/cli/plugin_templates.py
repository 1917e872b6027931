'''The files ``etlcore new-plugin`` writes, as templates with ``{{name}}`` placeholders.

Kept as Python strings (not data files) so they ship in the wheel with no
package-data settings. :func:`etlcore.cli.newplugin.render` fills them in.
'''

from __future__ import annotations

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{{dist}}"
version = "0.1.0"
description = "{{Description}}"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["etlcore>={{etlcore_version}}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# etlcore finds the plugin through this entry point
[project.entry-points.etlcore]
{{name}} = "{{module}}"

# what the plugin provides, readable without importing it (for error messages)
[project.entry-points."etlcore.provides"]
{{provides}}

[tool.setuptools]
packages = ["{{module}}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

INIT = '''"""{{dist}}: {{description}}.

The ``etlcore`` entry point in pyproject.toml names this module; the hooks
below register the connectors as ``"module:Class"`` strings, so etlcore
imports them (and any client library they need) only when a job uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etlcore.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from etlcore.plugin.registry import Registrar
{{hooks}}'''

SOURCE_HOOK = '''

@hookimpl
def etlcore_register_sources(register: Registrar) -> None:
    register.source("{{name}}", "{{module}}.source:{{Camel}}Source",
                    "{{module}}.config:{{Camel}}SourceConfig",
                    "JSON lines appended to <partition>.jsonl files, replayable by offset")
'''

SINK_HOOK = '''

@hookimpl
def etlcore_register_sinks(register: Registrar) -> None:
    register.sink("{{name}}", "{{module}}.sink:{{Camel}}Sink",
                  "{{module}}.config:{{Camel}}SinkConfig",
                  "upsert records by key, exactly once on replay")
'''

CONFIG_HEAD = '''"""Config schemas, checked before a job runs; this module imports no client library.

``etlcore plugins`` imports it to show the settings, so keep heavy imports out.
"""

from __future__ import annotations

from dataclasses import dataclass

from etlcore.config import {{config_imports}}
from etlcore.errors import ConfigError
'''

CONFIG_SOURCE = '''

@dataclass
class {{Camel}}SourceConfig:
    path: str = option(help="directory of <partition>.jsonl files that producers append to")
    max_records_per_batch: int = option(1000, help="records one batch takes from a partition")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.path:
            raise ConfigError(f"{prefix}path", "a directory path", self.path)
        if self.max_records_per_batch < 1:
            raise ConfigError(f"{prefix}max_records_per_batch", "a positive integer",
                              self.max_records_per_batch)
'''

CONFIG_SINK = '''

@dataclass
class {{Camel}}SinkConfig:
    path: str = option(help="directory of the store: one JSON file per key (your database here)")
    key: str = option("id", help="the record field that is the key")
    chunk_size: int = option(100, help="records per upsert call")
    token: str | None = secret(None, help="credentials for your store; never printed")

    def validate(self, where: str) -> None:
        prefix = f"{where}." if where else ""
        if not self.path:
            raise ConfigError(f"{prefix}path", "a directory path", self.path)
        if not self.key:
            raise ConfigError(f"{prefix}key", "the name of a record field", self.key)
        if self.chunk_size < 1:
            raise ConfigError(f"{prefix}chunk_size", "a positive integer", self.chunk_size)
'''

SOURCE = '''"""The ``{{name}}`` source: JSON lines appended to ``<path>/<partition>.jsonl`` files.

Replace the file reads with your system's client and keep the shape:

- :class:`{{Camel}}Source` (driver, the job's thread): lists the partitions,
  counts the records available and plans each batch's ``[start, end)`` offsets.
- :class:`{{Camel}}Reader` (every worker): pickled with the config alone, it
  reads a planned range, the same records every time (the files only grow),
  which is what makes a replayed batch identical to its first run.

A line that is not JSON is yielded as ``Rejected``: the engine sends it to the
dead letters and the batch goes on.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from etlcore.plugin.redact import RedactedRepr
from etlcore.source import OffsetSource, Rejected, SourceContext, SourceReader

from {{module}}.config import {{Camel}}SourceConfig


class {{Camel}}Reader(RedactedRepr, SourceReader):
    """Reads planned line offsets of one partition's file (worker side)."""

    def __init__(self, config: {{Camel}}SourceConfig):
        self.config = config

    def read(self, partition: str, start: int, end: int) -> Iterator[Any]:
        path = Path(self.config.path) / f"{partition}.jsonl"
        with open(path, "rb") as f:
            for i, line in enumerate(f):
                if i >= end:
                    return
                if i < start:
                    continue
                try:
                    yield json.loads(line)
                except ValueError as err:
                    text = line.decode("utf-8", "replace").rstrip("\\n")
                    yield Rejected(text, f"not JSON ({err}) at {path.name} line {i + 1}")


class {{Camel}}Source(RedactedRepr, OffsetSource):
    """One partition per ``*.jsonl`` file; positions are line offsets (driver side)."""

    def __init__(self, config: {{Camel}}SourceConfig):
        self.config = config
        self._scanned: dict[str, tuple[int, int]] = {}  # partition -> (bytes read, lines)

    def open(self, ctx: SourceContext) -> None:
        """Resolve the path here: workers may run in another directory."""
        self.config = dataclasses.replace(self.config, path=os.path.abspath(self.config.path))

    def reader(self) -> {{Camel}}Reader:
        return {{Camel}}Reader(self.config)

    def partitions(self) -> list[str]:
        folder = Path(self.config.path)
        return sorted(p.stem for p in folder.glob("*.jsonl") if not p.name.startswith("."))

    def available(self, partition: str) -> int:
        """Complete lines in the file (a line still being written does not count)."""
        offset, lines = self._scanned.get(partition, (0, 0))
        with open(Path(self.config.path) / f"{partition}.jsonl", "rb") as f:
            f.seek(offset)
            data = f.read()
        complete = data[: data.rfind(b"\\n") + 1]
        self._scanned[partition] = (offset + len(complete), lines + complete.count(b"\\n"))
        return self._scanned[partition][1]

    def plan(self, partition: str, start: int, max_records: int | None) -> int:
        cap = self.config.max_records_per_batch
        return super().plan(partition, start, cap if max_records is None else min(cap, max_records))
'''

SINK = '''"""The ``{{name}}`` sink: upserts each record under its key (for now, one JSON file per key).

Replace ``connect``, ``disconnect`` and ``upsert`` with your database's client
(Cassandra, MongoDB, HBase, ...) and keep the shape:

- :class:`{{Camel}}Writer` (every worker): pickled with the config alone; it
  connects in ``open`` and upserts chunks of ``chunk_size`` records.
- :class:`{{Camel}}Sink` (driver): hands out writers; nothing is left to do at
  commit, since every record is stored once its chunk is upserted.

Exactly-once by deterministic keys (strategy 1 of :mod:`etlcore.sink`): a batch
replayed after a crash writes the same keys with the same values. Records
without the key, or that JSON cannot encode, go to the dead letters.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.parse
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from etlcore.plugin.redact import RedactedRepr
from etlcore.sink import RejectRecord, SinkContext, UpsertSink, UpsertWriter

from {{module}}.config import {{Camel}}SinkConfig


class {{Camel}}Writer(RedactedRepr, UpsertWriter):
    """Upserts chunks of records by key (worker side)."""

    def __init__(self, config: {{Camel}}SinkConfig):
        self.config = config
        self.chunk_records = config.chunk_size
        self.root: Path | None = None  # the client: opened on the worker, never pickled

    def connect(self) -> None:
        self.root = Path(self.config.path)
        self.root.mkdir(parents=True, exist_ok=True)

    def disconnect(self) -> None:
        self.root = None

    def key(self, record: Any) -> Hashable:
        if not isinstance(record, dict) or record.get(self.config.key) is None:
            raise RejectRecord(f"no '{self.config.key}' field")
        return str(record[self.config.key])

    def prepare(self, record: Any) -> tuple[Hashable, str]:
        """The key and the encoded document; a record JSON cannot encode is rejected."""
        key, _ = super().prepare(record)
        try:
            return key, json.dumps(record, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise RejectRecord(f"not JSON: {err}") from None

    def upsert(self, rows: list[tuple[Hashable, Any]]) -> None:
        if self.root is None:
            raise RuntimeError("{{name}} writer used before open()")
        for key, document in rows:
            path = self.root / (urllib.parse.quote(str(key), safe="") + ".json")
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(document + "\\n")
            os.replace(tmp, path)  # readers see the old document or the new one


class {{Camel}}Sink(RedactedRepr, UpsertSink):
    """Hands out writers (driver side); commit has nothing left to publish."""

    def __init__(self, config: {{Camel}}SinkConfig):
        self.config = config

    def open(self, ctx: SinkContext) -> None:
        """Resolve the path here: workers may run in another directory."""
        self.config = dataclasses.replace(self.config, path=os.path.abspath(self.config.path))

    def writer(self) -> {{Camel}}Writer:
        return {{Camel}}Writer(self.config)
'''

TEST_SOURCE = '''"""The {{name}} source under etlcore's contract kit (replays, shipping, bad input)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etlcore.contract import SourceContract
from etlcore.source import Source


class Test{{Camel}}Source(SourceContract):
    plugin_name = "{{name}}"

    def config(self, path: Path) -> dict[str, Any]:
        (path / "in").mkdir()
        return {"path": str(path / "in")}

    def append(self, source: Source, partition: str, lines: list[str]) -> None:
        with open(Path(source.config.path) / f"{partition}.jsonl", "a") as f:
            f.write("".join(line + "\\n" for line in lines))

    def produce(self, source: Source, round: int) -> list[Any]:  # noqa: A002
        records = [{"round": round, "partition": p, "i": i} for p in ("a", "b") for i in range(4)]
        for p in ("a", "b"):
            self.append(source, p, [json.dumps(r) for r in records if r["partition"] == p])
        return records

    def produce_bad(self, source: Source) -> list[Any]:
        self.append(source, "a", ['{"ok": 1}', "{not json"])
        return ["{not json"]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"path": ""}, "path"), ({"max_records_per_batch": 0}, "max_records_per_batch")]
'''

TEST_SINK = '''"""The {{name}} sink under etlcore's contract kit (replays, crashes, bad records)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etlcore.contract import SinkContract, Target
from etlcore.sink import Sink


class Test{{Camel}}Sink(SinkContract):
    plugin_name = "{{name}}"

    def config(self, path: Path) -> dict[str, Any]:
        return {"path": str(path / "store"), "chunk_size": 2}

    def sample_records(self) -> list[Any]:
        return [{"id": i, "value": i * 10} for i in range(6)]

    def stored(self, sink: Sink, target: Target) -> list[Any]:
        folder = Path(target.config["path"])
        return [(f.name, f.read_text()) for f in sorted(folder.glob("*.json"))]

    def bad_records(self) -> list[Any]:
        return [{"value": "no id"}, {"id": 99, "value": float("nan")}]

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        return [({"chunk_size": 0}, "chunk_size"), ({"key": ""}, "key")]
'''

README = '''# {{dist}}

{{Description}}, made with `etlcore new-plugin`.

```sh
pip install -e '.[test]'
etlcore plugins            # lists {{listing}}
pytest                     # the etlcore contract kit: replays, crashes, pickling, bad input
```

```python
{{usage}}
```

## Making it yours

{{yours}}

The tests subclass `etlcore.contract.SourceContract` / `SinkContract`; keep
them passing as you go: they replay batches, crash between write and commit,
ship readers and writers through pickle and cloudpickle, and check that
config errors name the key. See etlcore's docs/plugins.md.
'''

USAGE_SOURCE = 'ctx.source("{{name}}", path="incoming/")  # one partition per *.jsonl file'
USAGE_SINK = 'stream.sink("{{name}}", path="store/", key="id")'

YOURS_SOURCE = '''- `{{module}}/source.py`: replace the file reads in `{{Camel}}Source.partitions`,
  `available` and `{{Camel}}Reader.read` with your system's client. A planned
  range must read the same records every time it is read.'''

YOURS_SINK = '''- `{{module}}/sink.py`: replace `connect`, `disconnect` and `upsert` in
  `{{Camel}}Writer` with your database's client; keys must come from the record
  alone, so that a replayed batch overwrites what it wrote.'''
