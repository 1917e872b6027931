"""Which fields of a source's records a job reads: the plan's half of JSON column pruning.

A source's records reach the operators and outputs that consume its node. When
every one of them is an operator that names the fields it reads
(:meth:`~etlcore.graph.base.Node.reads_fields`: ``reduce_by_key_and_window("count",
key="user")``), nothing else ever sees the rest of a record, so a reader that
decodes JSON may build only those fields (:meth:`SourceReader.prune_fields
<etlcore.source.SourceReader.prune_fields>`), as Spark prunes the JSON columns a
query never reads. Anything that may see a whole record turns it off for that
source: a narrow operator (a map or filter runs user code on the record), a sink
or ``foreach_batch`` of the source's records, an operator that names no fields.
Dead letters are safe: an operator dead-letters a record whose field it cannot
read, and a pruning reader keeps such records whole (:mod:`etlcore.jsonproject`).

``ETLCORE_NO_FIELD_PRUNING=1`` turns it off (A/B measurements in one tree).
"""

from __future__ import annotations

import os
from typing import Any

from etlcore.graph.base import Node
from etlcore.graph.io import SourceNode

#: "1": never prune (module doc), for A/B measurements in one tree.
NO_FIELD_PRUNING = "ETLCORE_NO_FIELD_PRUNING"


def fields_read(live: list[Node], outputs: list[Any]) -> dict[str, frozenset[str]]:
    """Source node key -> the only fields of its records the job reads; a source whose
    records something may see whole is absent."""
    if os.environ.get(NO_FIELD_PRUNING) == "1":
        return {}
    direct = {id(out.node) for out in outputs}
    found: dict[str, frozenset[str]] = {}
    for source in live:
        if not isinstance(source, SourceNode) or id(source) in direct:
            continue
        readers = [n for n in live if any(p is source for p in n.parents)]
        names: set[str] = set()
        for node in readers:
            fields = node.reads_fields()
            if fields is None:
                break
            names |= fields
        else:
            if names:
                found[source.key] = frozenset(names)
    return found
