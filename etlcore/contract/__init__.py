"""A contract test kit for connectors, shipped as a pytest plugin.

A plugin's test module subclasses :class:`SourceContract` or
:class:`SinkContract` and gives a few factory methods; it then gets tests for
what every connector must guarantee: readers and writers that survive pickle
and cloudpickle, replayed batches that read or store the same, a crash
between write and commit, a repeated commit, its own bad input, and config
errors that name the key::

    from etlcore.contract import SinkContract

    class TestJsonlSink(SinkContract):
        plugin_name = "jsonl"

        def config(self, path):
            return {"path": str(path / "out")}

        def sample_records(self):
            return [{"id": i} for i in range(6)]

        def stored(self, sink, target):
            return [line for f in sorted(target.path.rglob("*.jsonl"))
                    for line in f.read_text().splitlines()]

See docs/plugins.md for every hook and test.
"""

from etlcore.contract.base import REMOVE, ConnectorContract
from etlcore.contract.drive import Target, canon, multiset, roundtrip, unique_name
from etlcore.contract.sink import SinkContract
from etlcore.contract.source import SourceContract

__all__ = ["REMOVE", "ConnectorContract", "SinkContract", "SourceContract", "Target", "canon",
           "multiset", "roundtrip", "unique_name"]
