"""Panel state: what workers ship, what the driver keeps, keyed by batch time."""

from __future__ import annotations

import pickle

import cloudpickle
import pytest
from etlcore_dashboard.panels import CELL_CHARS, PanelSpec, PanelState, cell, iso

from etlcore.batch import BatchInfo
from etlcore.errors import ConfigError
from etlcore.plugin.registry import get_registry
from etlcore.sink import WriteResult


def state(kind: str, **spec: object) -> PanelState:
    top = spec.pop("top", 10)
    points = spec.pop("points", 300)
    return PanelState(PanelSpec(kind, **spec), "t", top=top, points=points)  # type: ignore[arg-type]


def commit(panel: PanelState, batch_time: float, *partitions: list[object]) -> bool:
    """Workers reduce each partition (through pickle, as runners ship them); the driver folds."""
    spec = pickle.loads(cloudpickle.dumps(panel.spec))
    messages = []
    for records in partitions:
        message = spec.reduce(list(records))
        messages.append(pickle.loads(pickle.dumps(message)))
    return panel.commit(BatchInfo(int(batch_time), batch_time), messages)


def test_a_line_has_one_point_per_batch_time_and_a_replay_replaces_it():
    line = state("line", value="n")
    commit(line, 10.0, [{"n": 1}, {"n": 2}], [{"n": 4}])
    commit(line, 11.0, [{"n": 5}])
    commit(line, 11.0, [{"n": 5}])  # committed twice
    commit(line, 10.0, [{"n": 7}], [])  # a replay of an older batch lands on its own point
    view = line.view()
    assert view["x"] == [iso(10.0), iso(11.0)]
    assert view["y"] == [7.0, 5.0]


def test_a_line_keeps_the_latest_points():
    line = state("line", agg="count", points=3)
    for t in range(6):
        commit(line, float(t), ["x"] * t)
    assert line.view()["y"] == [3.0, 4.0, 5.0]


@pytest.mark.parametrize(("agg", "want"), [("sum", 10.0), ("count", 4.0), ("mean", 2.5),
                                           ("min", 1.0), ("max", 4.0), ("last", 3.0)])
def test_aggregates_fold_across_partitions(agg, want):
    number = state("number", agg=agg)
    commit(number, 1.0, [1, 4], [], [2, 3])
    assert number.view()["value"] == want


def test_a_batch_without_records_changes_nothing():
    line = state("line", agg="count")
    assert not line.commit(BatchInfo(0, 1.0), [])  # the stream produced nothing this batch
    assert not commit(line, 2.0, [], [])  # it produced an empty batch: no zero point
    assert commit(line, 3.0, [], ["x"])
    assert line.view()["y"] == [1.0]
    bar = state("bar", key=0, value=1)
    commit(bar, 1.0, [("#a", 1)])
    assert not commit(bar, 2.0, [])  # between a window's slides the bars stay up
    assert bar.view()["keys"] == ["#a"]
    table = state("table")
    commit(table, 1.0, ["r"])
    assert not commit(table, 2.0, [], [])
    assert table.view()["rows"] == [["r"]]


def test_a_sum_past_the_float_range_shows_nothing_rather_than_failing_the_batch():
    number = state("number")
    commit(number, 1.0, [1])
    assert not commit(number, 2.0, [1e308, 1e308])
    assert number.view()["value"] == 1.0


def test_a_bar_shows_the_top_keys_of_the_newest_batch():
    bar = state("bar", key="tag", value="count", top=3)
    rows = [("#a", 5), ("#b", 9), ("#c", 5), ("#d", 1), ("#b", 1)]
    commit(bar, 5.0, [{"tag": t, "count": c} for t, c in rows[:2]],
           [{"tag": t, "count": c} for t, c in rows[2:]])
    view = bar.view()
    assert view["keys"] == ["#b", "#a", "#c"]  # largest first, ties by key
    assert view["values"] == [10.0, 5.0, 5.0]
    commit(bar, 4.0, [{"tag": "#old", "count": 100}])  # an older batch does not replace it
    assert bar.view()["keys"] == ["#b", "#a", "#c"]
    tuples = state("bar", key=0, value=1)
    commit(tuples, 1.0, [("#x", 2), ("#y", 3)])
    assert tuples.view()["keys"] == ["#y", "#x"]


def test_a_number_ignores_older_batches():
    number = state("number", value="v")
    commit(number, 2.0, [{"v": 2}])
    commit(number, 1.0, [{"v": 1}])
    assert number.view()["value"] == 2.0
    commit(number, 2.0, [{"v": 3}])  # the same batch again (a replay) replaces it
    assert (number.view()["value"], number.view()["time"]) == (3.0, iso(2.0))


def test_a_table_keeps_the_latest_rows_newest_first():
    table = state("table", rows=3)
    commit(table, 1.0, [{"a": 1, "b": "x"}, {"a": 2}], [{"a": 3, "c": None}])
    commit(table, 2.0, [{"a": 4}], [{"a": 5}])
    view = table.view()
    assert view["columns"] == ["a", "c"]  # those of the rows shown
    assert view["rows"] == [["5", ""], ["4", ""], ["3", ""]]
    commit(table, 2.0, [{"a": 6}])  # a replay of batch 2 replaces its rows
    assert [r[0] for r in table.view()["rows"]] == ["6", "3", "2"]
    chosen = state("table", columns=("b", "a"))
    commit(chosen, 1.0, [{"a": 1, "b": 2, "z": 3}, ("no", "fields")])
    assert chosen.view()["rows"] == [["", ""], ["2", "1"]]


def test_workers_ship_at_most_the_rows_shown():
    spec = PanelSpec("table", rows=2)
    count, rows = spec.reduce([{"i": i} for i in range(1000)])
    assert count == 1000
    assert rows == [{"i": "998"}, {"i": "999"}]


@pytest.mark.parametrize("kind", ["line", "number", "bar"])
def test_records_without_a_number_are_rejected_with_a_reason(kind):
    spec = PanelSpec(kind, value="n", key="k")
    bad = [{"k": "a"}, {"k": "b", "n": "7"}, {"k": "c", "n": float("nan")}, {"k": "d", "n": True},
           "plain text"]
    result = spec.reduce([{"k": "ok", "n": 1}, *bad])
    assert isinstance(result, WriteResult)
    assert [r for r, _ in result.rejected] == bad
    reasons = [why for _, why in result.rejected]
    assert "no field 'n'" in reasons[0] and "not a number" in reasons[1]
    assert "finite" in reasons[2] and "not a number" in reasons[3]
    assert all(why.startswith(f"dashboard {kind}") for why in reasons)


def test_cells_are_text_and_short():
    assert cell("<script>alert(1)</script>") == "<script>alert(1)</script>"  # the page sets text
    assert [cell(None), cell(3), cell(2.0), cell(0.125), cell(True)] == ["", "3", "2", "0.125",
                                                                         "True"]
    assert cell(("a", 1)) == "('a', 1)"
    assert len(cell("x" * 10_000)) == CELL_CHARS


def test_a_dump_restores_the_same_view():
    for kind, records in [("line", [1, 2]), ("bar", [("a", 1)]), ("table", [{"a": 1}]),
                          ("number", [5])]:
        spec = {"key": 0, "value": 1} if kind == "bar" else {}
        before = state(kind, **spec)
        commit(before, 1.0, records)
        commit(before, 2.0, records)
        after = state(kind, **spec)
        after.load(pickle.loads(pickle.dumps(before.dump())))
        assert after.view() == before.view(), kind
        other = state("number")
        other.load(before.dump())  # another kind's file is ignored
        assert other.view()["value"] is None or kind == "number"


@pytest.mark.parametrize(("config", "key"), [
    ({}, "panel"),
    ({"panel": "pie"}, "panel"),
    ({"panel": "bar"}, "key"),
    ({"panel": "bar", "key": "tag", "top": 0}, "top"),
    ({"panel": "table", "rows": 10**6}, "rows"),
    ({"panel": "line", "points": -1}, "points"),
    ({"panel": "line", "agg": "median"}, "agg"),
    ({"panel": "line", "value": -1}, "value"),
    ({"panel": "line", "value": True}, "value"),
    ({"panel": "table", "columns": []}, "columns"),
    ({"panel": "line", "port": 70000}, "port"),
    ({"panel": "line", "host": ""}, "host"),
    ({"panel": "line", "token": ""}, "token"),
    ({"panel": "line", "token_env": "NO_SUCH_DASHBOARD_TOKEN_VAR"}, "token_env"),
    ({"panel": "line", "token": "a", "token_env": "HOME"}, "token_env"),
    ({"panel": "line", "colour": "red"}, "colour"),
    ({"panel": "line", "key": "tag"}, "key"),
    ({"panel": "table", "value": "n"}, "value"),
    ({"panel": "number", "columns": ["a"]}, "columns"),
    ({"panel": "bar", "key": "k", "points": 5}, "points"),
])
def test_config_errors_name_the_key(config, key):
    with pytest.raises(ConfigError) as err:
        get_registry().get("sink", "dashboard").build(config, where="sink 'dashboard'")
    assert err.value.key == f"sink 'dashboard'.{key}"


def test_the_token_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DASH_TEST_TOKEN", "s3cret")
    sink = get_registry().get("sink", "dashboard").build({"panel": "line",
                                                          "token_env": "DASH_TEST_TOKEN"})
    assert sink.config.resolved_token() == "s3cret"
    assert "s3cret" not in repr(sink) and "s3cret" not in repr(sink.config)
