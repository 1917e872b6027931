"""Config errors name the key and what was expected, before anything runs."""

from dataclasses import dataclass
from typing import Literal

import pytest

from etlcore import StreamingContext
from etlcore.config import Duration, describe_schema, option, parse_config, redacted, secret
from etlcore.errors import ConfigError


@dataclass
class Inner:
    port: int


@dataclass
class Schema:
    path: str
    mode: Literal["upsert", "append"] = "upsert"
    keys: list[str] = option([], help="key columns")
    every: Duration = option(1.0)
    password: str | None = secret()
    inner: Inner | None = None


def test_valid_config_is_typed():
    cfg = parse_config(Schema, {"path": "x", "keys": ["a"], "every": "500ms",
                                "inner": {"port": 1}})
    assert cfg.keys == ["a"] and cfg.every == 0.5 and cfg.inner == Inner(1)


@pytest.mark.parametrize(
    "values,key,expected",
    [
        ({}, "sink.path", "required"),
        ({"path": 1}, "sink.path", "a string"),
        ({"path": "x", "mode": "merge"}, "sink.mode", "one of 'upsert', 'append'"),
        ({"path": "x", "keys": "a"}, "sink.keys", "a list of a string"),
        ({"path": "x", "keys": ["a", 2]}, "sink.keys[1]", "a string"),
        ({"path": "x", "every": "soon"}, "sink.every", "a duration"),
        ({"path": "x", "inner": {"port": "80"}}, "sink.inner.port", "an integer"),
        ({"path": "x", "colour": 1}, "sink.colour", "known keys: every, inner, keys, mode"),
    ],
)
def test_errors_name_the_key(values, key, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(Schema, values, "sink")
    assert err.value.key == key
    assert expected in str(err.value)


def test_secrets_never_echoed():
    with pytest.raises(ConfigError) as err:
        parse_config(Schema, {"path": "x", "password": 12345}, "s")
    assert "12345" not in str(err.value)
    cfg = parse_config(Schema, {"path": "x", "password": "hunter2"})
    assert "hunter2" not in repr(cfg)
    assert redacted(cfg)["password"] == "<redacted>"
    assert [f for f in describe_schema(Schema) if f["name"] == "password"][0]["secret"]


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"batch_interval": 0}, "batch_interval"),
        ({"batch_interval": "fast"}, "batch_interval"),
        ({"parallelism": 0}, "parallelism"),
        ({"checkpoint_interval": -1}, "checkpoint_interval"),
        ({"max_rate_per_partition": "many"}, "max_rate_per_partition"),
        ({"clock": "sundial"}, "clock"),
    ],
)
def test_context_settings_are_checked(kwargs, key):
    with pytest.raises(ConfigError) as err:
        StreamingContext(**kwargs)
    assert err.value.key == key


def test_sink_config_checked_when_declared():
    ctx = StreamingContext(1.0, clock="manual")
    s = ctx.queue_stream([[1]])
    with pytest.raises(ConfigError) as err:
        s.sink("console", limit="ten")
    assert err.value.key == "sink 'console'.limit"
