"""Load what ``etlcore run`` was pointed at: a YAML job or a Python job file.

A Python job file defines ``job`` (a Job) or ``build()`` returning a Job or a
StreamingContext. Its folder goes on ``sys.path`` first, so it can import its
neighbours (a YAML job's ``map: {function: "mymod:fn"}`` too).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import cloudpickle

from etlcore.context import StreamingContext
from etlcore.errors import EtlcoreError
from etlcore.job.job import Job
from etlcore.job.yamlspec import JobFileError, load_yaml_job


def _on_path(folder: Path) -> None:
    entry = str(folder.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _load_python(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"etlcore_job_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise JobFileError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    # workers cannot import a module made from a file path: ship its functions by value
    cloudpickle.register_pickle_by_value(module)
    try:
        spec.loader.exec_module(module)
        build = getattr(module, "build", None)
        if callable(build):
            return build()
    except EtlcoreError:
        raise
    except Exception as err:  # the job file's own bug: one line, --debug has the traceback
        raise JobFileError(f"{path}: {type(err).__name__}: {err}") from err
    if hasattr(module, "job"):
        return module.job
    raise JobFileError(f"{path}: defines neither `job` (a Job) nor `build()`")


def load_target(path: str | Path, *, allow_changed_job: bool = False) -> StreamingContext:
    """A ready-to-run StreamingContext from a job file (config checked, nothing run yet).

    ``allow_changed_job`` (``--allow-changed-job``) lets the job resume a checkpoint
    written by a different version of it.
    """
    p = Path(path)
    if not p.is_file():
        raise JobFileError(f"{p}: no such job file")
    _on_path(p.parent)
    if p.suffix in (".yaml", ".yml"):
        target: Any = load_yaml_job(p)
    elif p.suffix == ".py":
        target = _load_python(p)
    else:
        raise JobFileError(f"{p}: expected a .yaml, .yml or .py job file")
    if isinstance(target, Job):
        return target.build(**({"allow_changed_job": True} if allow_changed_job else {}))
    if isinstance(target, StreamingContext):
        if allow_changed_job:
            target.allow_changed_job = True
        return target
    raise JobFileError(f"{p}: `job`/`build()` gave a {type(target).__name__}, expected a Job "
                       "or a StreamingContext")
