"""``etlcore new-plugin NAME``: write a plugin package that installs and passes its tests.

The package registers a source and/or a sink built on etlcore's base classes
(:class:`~etlcore.source.OffsetSource`, :class:`~etlcore.sink.UpsertSink`),
stores locally so it runs as generated, and tests itself with the contract
kit (:mod:`etlcore.contract`); the README says what to replace.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from etlcore.cli import plugin_templates as t
from etlcore.errors import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9]*([-_][a-z0-9]+)*$")
KINDS = ("source", "sink", "both")


@dataclass(frozen=True)
class Names:
    dist: str  # etlcore-demo-sink: the pip package
    module: str  # etlcore_demo_sink: the import name
    name: str  # demo: the source/sink name in jobs, and the entry point
    camel: str  # Demo: prefix of the class names

    @classmethod
    def of(cls, text: str) -> Names:
        if not _NAME.match(text):
            raise ConfigError("NAME", "lower-case letters, digits and single '-' or '_' "
                              "between them, starting with a letter (e.g. 'mongodb-sink')", text)
        dist = text.replace("_", "-")
        dist = dist if dist.startswith("etlcore-") else f"etlcore-{dist}"
        base = dist.removeprefix("etlcore-")
        stem = re.sub(r"-(source|sink)$", "", base) or base
        return cls(dist, dist.replace("-", "_"), stem.replace("-", "_"),
                   "".join(part.capitalize() for part in stem.split("-")))


def default_kind(text: str) -> str:
    """``both``, unless the name ends in ``source`` or ``sink``."""
    for kind in ("source", "sink"):
        if text.endswith(kind) and text != kind:
            return kind
    return "both"


def render(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    if "{{" in template:
        raise AssertionError(f"unfilled placeholder in a template: {template[:200]!r}")
    return template


def files(names: Names, kind: str) -> dict[str, str]:
    """Relative path -> contents of every file of the package."""
    from etlcore._version import __version__

    source, sink = kind in ("source", "both"), kind in ("sink", "both")
    what = {"source": "a replayable JSON-lines source", "sink": "an upsert-by-key sink",
            "both": "a replayable JSON-lines source and an upsert-by-key sink"}[kind]
    values = {"dist": names.dist, "module": names.module, "name": names.name,
              "Camel": names.camel, "etlcore_version": __version__,
              "description": f"{what} for etlcore",
              "Description": f"{what[0].upper()}{what[1:]} for etlcore"}
    fill = {k: render(v, values) for k, v in {
        "hooks": (t.SOURCE_HOOK if source else "") + (t.SINK_HOOK if sink else ""),
        "provides": "\n".join(
            ([f'"source.{names.name}" = "{names.module}.source:{names.camel}Source"'] * source)
            + ([f'"sink.{names.name}" = "{names.module}.sink:{names.camel}Sink"'] * sink)),
        "listing": " and ".join([f"source {names.name}"] * source + [f"sink {names.name}"] * sink),
        "usage": "\n".join([t.USAGE_SOURCE] * source + [t.USAGE_SINK] * sink),
        "yours": "\n".join([t.YOURS_SOURCE] * source + [t.YOURS_SINK] * sink),
        "config_imports": "option, secret" if sink else "option",
    }.items()}
    values |= fill
    out = {
        "pyproject.toml": t.PYPROJECT,
        "README.md": t.README,
        f"{names.module}/__init__.py": t.INIT,
        f"{names.module}/config.py": t.CONFIG_HEAD + (t.CONFIG_SOURCE if source else "")
        + (t.CONFIG_SINK if sink else ""),
    }
    if source:
        out[f"{names.module}/source.py"] = t.SOURCE
        out[f"tests/test_{names.name}_source.py"] = t.TEST_SOURCE
    if sink:
        out[f"{names.module}/sink.py"] = t.SINK
        out[f"tests/test_{names.name}_sink.py"] = t.TEST_SINK
    return {path: render(text, values) for path, text in out.items()}


def write_plugin(text: str, kind: str | None = None, parent: Path | str = ".") -> Path:
    """Write the package for ``text`` under ``parent``; returns its directory."""
    names = Names.of(text)
    kind = kind or default_kind(text)
    root = Path(parent) / text
    if root.exists() and any(root.iterdir()):
        raise ConfigError("--dir", f"a place without a non-empty '{text}' directory "
                          f"({root} exists)", has_value=False)
    for path, content in files(names, kind).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("new-plugin", parents=[common], help="write a new plugin package",
                       description="Write a ready-to-install plugin package: pyproject with the "
                       "etlcore entry point, a source and/or sink on etlcore's base classes, "
                       "contract-kit tests and a README.")
    p.add_argument("name", metavar="NAME", help="e.g. mongodb-sink (package etlcore-mongodb-sink)")
    p.add_argument("--kind", choices=KINDS, default=None,
                   help="what to generate (default: from NAME's ending, else both)")
    p.add_argument("--dir", default=".", metavar="PATH",
                   help="where to create the NAME directory (default: here)")


def run(args: argparse.Namespace) -> int:
    root = write_plugin(args.name, args.kind, args.dir)
    names = Names.of(args.name)
    print(f"wrote {root}/ ({names.dist}, import {names.module}, name '{names.name}')\n"
          f"next: cd {root} && pip install -e '.[test]' && pytest", flush=True)
    return 0
