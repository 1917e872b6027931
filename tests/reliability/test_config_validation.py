"""Config that cannot work is refused up front, naming the key, before anything is written.

Before: ``batch_interval: .nan`` busy-looped writing fsynced plans and commits;
``.inf`` durations, windows and rates failed with OverflowError after the
checkpoint was written; an unknown directory ``encoding`` failed when the first
file arrived; ``num_partitions: 0`` silently meant the default; duplicate YAML
keys were silently overwritten; a job file that is not UTF-8, or a map function
whose module has a syntax error, exited 1 without naming the key.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from etlcore import ConfigError
from etlcore.job.yamlspec import JobFileError, job_from_mapping, read_yaml

ROOT = Path(__file__).resolve().parents[2]


def job(**top) -> dict:
    return {"name": "v", "checkpoint": "ckpt",
            "source": {"type": "generator", "config": {"kind": "clicks"}},
            "store": [{"sink": "console"}], **top}


def refused(spec: dict, tmp_path: Path, monkeypatch) -> ConfigError:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        job_from_mapping(spec).build()
    assert not (tmp_path / "ckpt").exists()  # nothing written
    return err.value


@pytest.mark.parametrize(("spec", "key", "expected"), [
    (job(batch_interval=float("nan")), "batch_interval",
     "a finite duration of at most 1e+09 s (~31 years)"),
    (job(batch_interval=float("inf")), "batch_interval",
     "a finite duration of at most 1e+09 s (~31 years)"),
    (job(max_rate_per_partition=float("inf")), "max_rate_per_partition", "a finite number"),
    (job(transform=[{"window": {"length": float("inf")}}]), "transform[0].window.length",
     "a finite duration of at most 1e+09 s (~31 years)"),
    (job(transform=[{"pair": {"key": "url"}},
                    {"reduce_by_key_and_window": {"length": "10s", "slide": float("nan")}}]),
     "transform[1].reduce_by_key_and_window.slide",
     "a finite duration of at most 1e+09 s (~31 years)"),
    (job(source={"type": "generator", "config": {"kind": "clicks", "rate": float("inf")}}),
     "source.config.rate", "a finite number"),
    (job(transform=[{"count_by_value": {"num_partitions": 0}}]),
     "transform[0].count_by_value.num_partitions", "a positive integer, or null for the default"),
    (job(transform=[{"reduce_by_key": {"num_partitions": 0}}]),
     "transform[0].reduce_by_key.num_partitions", "a positive integer, or null for the default"),
    (job(source={"type": "directory", "config": {"path": "in", "encoding": "utf-9"}}),
     "source.config.encoding", "a known text encoding such as 'utf-8' or 'latin-1'"),
    (job(source={"type": "socket", "config": {"port": 9, "encoding": "hex"}}),
     "source.config.encoding", "a known text encoding such as 'utf-8' or 'latin-1'"),
])
def test_refused_before_anything_is_written(spec, key, expected, tmp_path, monkeypatch):
    err = refused(spec, tmp_path, monkeypatch)
    assert (err.key, err.expected) == (key, expected)


def test_the_python_api_refuses_non_finite_values_too():
    from etlcore import StreamingContext

    for kwargs, key in [({"batch_interval": float("nan")}, "batch_interval"),
                        ({"max_rate_per_partition": float("inf")}, "max_rate_per_partition")]:
        with pytest.raises(ConfigError) as err:
            StreamingContext(**kwargs)
        assert err.value.key == key
    ctx = StreamingContext(1.0)
    with pytest.raises(ConfigError) as err:
        ctx.queue_stream([]).window(float("inf"))
    assert err.value.key == "window.length"


def test_duplicate_yaml_keys_are_refused(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("name: a\nsource: {type: queue}\nstore: [{sink: console}]\n"
                    "source: {type: generator, config: {kind: clicks}}\n")
    with pytest.raises(JobFileError) as err:
        read_yaml(path)
    assert str(err.value) == (f"{path}:4:1: invalid YAML: duplicate key 'source' (first given "
                              "on line 2)")
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: a\nsource:\n  type: queue\n  type: generator\n")
    with pytest.raises(JobFileError, match="duplicate key 'type' \\(first given on line 3\\)"):
        read_yaml(nested)


def test_a_job_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_bytes(b"name: caf\xe9\nsource: {type: queue}\n")
    with pytest.raises(JobFileError) as err:
        read_yaml(path)
    assert str(err.value) == (f"{path}:1: not UTF-8 text (byte 0xe9 at offset 9); save the "
                              "job file as UTF-8")


def run_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "etlcore.cli.main", "run", *args],
                          cwd=folder, env=env, text=True, capture_output=True, timeout=60)


def test_cli_names_the_key_of_a_function_whose_module_does_not_compile(tmp_path):
    (tmp_path / "broken.py").write_text("def clean(x)\n    return x\n")
    (tmp_path / "job.yaml").write_text(
        "name: b\ncheckpoint: ckpt\nsource: {type: queue}\n"
        "transform:\n  - map: {function: 'broken:clean'}\nstore: [{sink: console}]\n")
    result = run_cli(tmp_path, "job.yaml", "--batches", "1")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: job.yaml: config key 'transform[0].map.function': expected an import path "
        "'package.module:function' whose module imports, but importing 'broken' failed: "
        "SyntaxError: expected ':'")
    assert not (tmp_path / "ckpt").exists()


def test_cli_refuses_a_job_file_that_is_not_utf8(tmp_path):
    (tmp_path / "job.yaml").write_bytes(b"name: caf\xe9\n")
    result = run_cli(tmp_path, "job.yaml", "--batches", "1")
    assert result.returncode == 2
    assert "job.yaml:1: not UTF-8 text (byte 0xe9 at offset 9)" in result.stderr


def _declare(op: str, n: object):
    """A Python job declaring ``op`` with ``num_partitions=n``; returns what ran (nothing)."""
    from etlcore import StreamingContext

    ctx = StreamingContext(1.0, None, clock="manual", name="partitions")
    pairs = ctx.queue_stream([[("a", 1)]])
    calls = {
        "reduce_by_key": lambda: pairs.reduce_by_key("sum", num_partitions=n),
        "group_by_key": lambda: pairs.group_by_key(num_partitions=n),
        "count_by_value": lambda: pairs.count_by_value(num_partitions=n),
        "reduce_by_key_and_window": lambda: pairs.reduce_by_key_and_window(
            "sum", length=2, num_partitions=n),
        "count_by_value_and_window": lambda: pairs.count_by_value_and_window(
            2, num_partitions=n),
        "join": lambda: pairs.join(pairs, num_partitions=n),
        "left_outer_join": lambda: pairs.left_outer_join(pairs, num_partitions=n),
        "update_state_by_key": lambda: pairs.update_state_by_key(
            lambda new, old: (old or 0) + sum(new), num_partitions=n),
        "map_with_state": lambda: pairs.map_with_state(
            lambda key, value, state: value, num_partitions=n),
        "tumbling_window": lambda: pairs.with_event_time(lambda r: 0.0, "1s").tumbling_window(
            "10s", num_partitions=n),
    }
    return ctx, calls[op]


OPS = ["reduce_by_key", "group_by_key", "count_by_value", "reduce_by_key_and_window",
       "count_by_value_and_window", "join", "left_outer_join", "update_state_by_key",
       "map_with_state", "tumbling_window"]


@pytest.mark.parametrize("n", [0, -2, 1.5, True, "4"])
@pytest.mark.parametrize("op", OPS)
def test_the_python_api_refuses_a_bad_num_partitions(op: str, n: object) -> None:
    """``num_partitions=0`` used to mean the default silently; it is refused when declared."""
    ctx, declare = _declare(op, n)
    with pytest.raises(ConfigError) as err:
        declare()
    assert err.value.key == f"{op}.num_partitions"
    assert str(err.value) == (f"config key '{op}.num_partitions': expected a positive integer, "
                              f"or None for the default, got {n!r}")


@pytest.mark.parametrize("op", OPS)
def test_the_python_api_takes_a_positive_num_partitions(op: str) -> None:
    _, declare = _declare(op, 3)
    declare()
    _, declare = _declare(op, None)
    declare()
