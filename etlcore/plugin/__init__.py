"""What plugin authors import: ``hookimpl`` to mark hooks, ``require`` for client libraries.

The machinery lives in the submodules: :mod:`~etlcore.plugin.hookspecs` (the
hooks), :mod:`~etlcore.plugin.loading` (finding plugins, each failing on its
own), :mod:`~etlcore.plugin.registry` (names to connectors, imported on use).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from etlcore.errors import MissingDependencyError
from etlcore.plugin.hookspecs import hookimpl

__all__ = ["hookimpl", "require"]


def require(module: str, *, package: str | None = None, plugin: str | None = None) -> ModuleType:
    """Import ``module``, or raise a one-line error saying what to pip install.

        cassandra = require("cassandra", package="cassandra-driver", plugin="etlcore-cassandra")

    ``package`` defaults to the module's top-level name; ``plugin`` names who
    needs it. Call it in the connector module (the one the ``"module:Class"``
    registration names), not in the module the ``etlcore`` entry point loads,
    so only jobs that use the connector need the library. Raises
    :class:`etlcore.errors.MissingDependencyError`, which quotes the original
    ImportError (so an install that is there but broken is not misreported).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(module, package or module.split(".")[0], plugin,
                                     err) from err
