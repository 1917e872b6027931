"""Import a connector's client library, or say which package to pip install.

A plugin usually imports its client (boto3, pymongo, cassandra-driver) when
the connector is built or opened, not when the plugin registers, so that
``etlcore plugins`` works without every client installed. When the client is
missing, users need the pip command, not a traceback:

    pymongo = require_module("pymongo", "pymongo>=4", feature="the mongodb sink")
"""

from __future__ import annotations

import importlib
from types import ModuleType

from etlcore.errors import EtlcoreError


class MissingDependencyError(EtlcoreError, ImportError):
    """A module a connector needs is not installed; the message has the pip command.

    Both an EtlcoreError (the CLI prints one line) and an ImportError (code that
    catches ImportError to fall back still works).
    """

    def __init__(self, message: str, module: str, package: str):
        super().__init__(message)
        self.name = module
        self.package = package


def _missing(err: ImportError, module: str) -> bool:
    """True when ``module`` (or a parent package of it) itself is absent."""
    name = err.name or ""
    return bool(name) and (module == name or module.startswith(name + "."))


def require_module(module: str, package: str | None = None, *, feature: str) -> ModuleType:
    """Import ``module``; if it is not installed, raise with ``pip install <package>``.

    ``package`` is what to install (a pip requirement, default the top-level
    module name); ``feature`` says who needs it ("the kinesis source"). An
    ImportError raised *inside* an installed module (a broken install) is not
    hidden behind the hint: it propagates as it was.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if not _missing(err, module):
            raise
        wanted = package or module.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs the Python module '{module}', which is not installed: "
            f"pip install '{wanted}'", module, wanted) from None
