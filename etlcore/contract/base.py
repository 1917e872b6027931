"""What source and sink contracts share: building from config, and config checks."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from etlcore.config import describe_schema, parse_config
from etlcore.contract.drive import Target
from etlcore.errors import ConfigError

REMOVE: Any = object()  # in bad_configs(): drop this key from the valid config
SECRET = "contract-secret-5b8e1f"

_targets = itertools.count()


class ConnectorContract:
    """Base of :class:`SourceContract` and :class:`SinkContract`.

    Name the connector with ``plugin_name`` (looked up in the registry, so the
    entry point is tested too) or with ``connector_class`` and ``config_class``
    (for a connector not installed).
    """

    kind: ClassVar[str] = ""
    plugin_name: ClassVar[str | None] = None
    connector_class: ClassVar[Any] = None
    config_class: ClassVar[type | None] = None
    job_name: ClassVar[str] = "contract"
    name: ClassVar[str] = "contract"  # the connector's name in the job and its contexts

    request: pytest.FixtureRequest
    tmp_path: Path

    @pytest.fixture(autouse=True)
    def _contract_setup(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
        self.request = request
        self.tmp_path = tmp_path
        self._opened: list[Any] = []
        yield
        for obj in reversed(self._opened):
            with contextlib.suppress(Exception):
                obj.close()

    # -- what a subclass gives ---------------------------------------------------
    def config(self, path: Path) -> dict[str, Any]:
        """A valid config storing to / reading from ``path`` (a fresh empty directory)."""
        raise NotImplementedError(f"{type(self).__name__} must define config(path)")

    def bad_configs(self) -> list[tuple[dict[str, Any], str]]:
        """``(changes to the valid config, dotted key the error must name)``; REMOVE drops a key."""
        return []

    # -- building -------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.kind} '{self.plugin_name or self.name}'"

    def schema(self) -> type:
        if self.plugin_name is not None:
            from etlcore.plugin.registry import get_registry

            return get_registry().get(self.kind, self.plugin_name).config_schema
        if self.config_class is None:
            raise TypeError(f"{type(self).__name__}: set plugin_name, or connector_class and "
                            "config_class")
        return self.config_class

    def build(self, config: Mapping[str, Any]) -> Any:
        """The connector, from config checked as a job checks it."""
        if self.plugin_name is not None:
            from etlcore.plugin.registry import get_registry

            return get_registry().get(self.kind, self.plugin_name).build(config, where=self.where)
        return self.connector_class(parse_config(self.schema(), config, self.where))

    def new_target(self) -> Target:
        n = next(_targets)
        path = self.tmp_path / f"target-{n}"
        path.mkdir(parents=True)
        return Target(path, self.tmp_path / f"checkpoint-{n}", self.config(path))

    def closing(self, obj: Any) -> Any:
        """Close ``obj`` when the test ends (connectors a test left open, as a crash would)."""
        self._opened.append(obj)
        return obj

    # -- tests every connector gets -------------------------------------------------
    def test_config_errors_name_the_key(self) -> None:
        valid = self.new_target().config
        cases: list[tuple[dict[str, Any], str]] = [({**valid, "no_such_option": 1},
                                                     "no_such_option")]
        for f in describe_schema(self.schema()):
            if f["required"] and f["name"] in valid:
                cases.append(({k: v for k, v in valid.items() if k != f["name"]}, f["name"]))
        for changes, key in self.bad_configs():
            config = {**valid, **changes}
            cases.append(({k: v for k, v in config.items() if v is not REMOVE}, key))
        for config, key in cases:
            with pytest.raises(ConfigError) as err:
                self.build(config)
            assert err.value.key == f"{self.where}.{key}", (
                f"config {config!r}: the error names {err.value.key!r}, not '{self.where}.{key}'")
            assert err.value.key in str(err.value)

    def test_secrets_stay_out_of_reprs_and_errors(self) -> None:
        names = [f["name"] for f in describe_schema(self.schema()) if f["secret"]]
        if not names:
            pytest.skip(f"{self.schema().__name__} has no secret() fields")
        valid = self.new_target().config
        for name in names:  # a wrong value is not echoed
            try:
                self.build({**valid, name: [SECRET]})
            except ConfigError as err:
                assert SECRET not in str(err) and SECRET not in repr(err.got)
        secrets = {name: f"{SECRET}-{name}" for name in names}
        try:
            connector = self.build({**valid, **secrets})
        except ConfigError as err:
            pytest.skip(f"string values do not suit the secret fields: {err}")
        shown = [repr(connector), str(connector)]
        writer = getattr(connector, "writer", None)
        if callable(writer):
            with contextlib.suppress(Exception):  # some need open() first
                shown.append(repr(writer()))
        for text in shown:
            assert SECRET not in text, f"a secret value shows in {text!r}"
