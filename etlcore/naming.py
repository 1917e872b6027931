"""Spark's camelCase names answered with etlcore's: ``flatMap`` -> "did you mean flat_map?".

Spark users port programs name for name; a bare AttributeError for
``stream.flatMap`` makes them hunt through the docs. The hint converts the
name to snake_case (and knows the few that are spelled differently) and only
suggests a name the object really has.
"""

from __future__ import annotations

import re
from typing import Any

# Spark names whose etlcore name is not their snake_case form.
_RENAMED = {
    "foreachRDD": "foreach_batch",
    "saveAsTextFiles": "sink",
    "transformToPair": "transform",
    "mapToPair": "map",
    "flatMapToPair": "flat_map",
    "awaitTerminationOrTimeout": "await_termination",
    "textFileStream": "text_file_stream",
    "socketTextStream": "socket_text_stream",
    "queueStream": "queue_stream",
    "unionAll": "union",
}

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``reduceByKeyAndWindow`` -> ``reduce_by_key_and_window``; ``foreachRDD`` -> ``foreach_rdd``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return _CAMEL.sub(r"_\1", name).lower()


def suggestion(obj: Any, name: str) -> str | None:
    """The attribute of ``obj`` a Spark-style ``name`` means, if there is one."""
    if name.startswith("_") or name == name.lower():
        return None
    for candidate in (_RENAMED.get(name), snake_case(name)):
        if candidate and candidate != name and hasattr(type(obj), candidate):
            return candidate
    return None


def missing_attribute(obj: Any, name: str) -> AttributeError:
    """The AttributeError for ``obj.name``, with a "did you mean" when a Spark name was used."""
    kind = type(obj).__name__
    better = suggestion(obj, name)
    if better is None:
        return AttributeError(f"'{kind}' object has no attribute '{name}'", name=name, obj=obj)
    return AttributeError(f"'{kind}' object has no attribute '{name}'; did you mean "
                          f"'{better}'? (etlcore spells Spark's operators in snake_case)",
                          name=name, obj=obj)
