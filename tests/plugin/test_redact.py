"""Secrets stay out of reprs and error messages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from etlcore.config import option, secret
from etlcore.plugin.redact import (
    RedactedError,
    RedactedRepr,
    config_repr,
    redact,
    redacted_errors,
    secret_values,
)


@dataclass
class DbConfig:
    host: str = option("db.local")
    password: str | None = secret(None)
    client: dict = secret({})


class DbSink(RedactedRepr):
    def __init__(self, config: DbConfig):
        self.config = config


CONFIG = DbConfig(password="hunter22", client={"token": "tok-123", "nested": ["tok-1234"]})


def test_secret_values_include_nested_strings_longest_first():
    assert secret_values(CONFIG) == ["hunter22", "tok-1234", "tok-123"]
    assert secret_values(DbConfig()) == []


def test_redact_replaces_every_occurrence():
    text = "login hunter22 failed, token tok-1234 and tok-123 at db.local"
    assert redact(text, CONFIG) == (
        "login <redacted> failed, token <redacted> and <redacted> at db.local")


def test_reprs_show_the_config_without_secrets():
    assert config_repr(CONFIG) == (
        "DbConfig(host='db.local', password=<redacted>, client=<redacted>)")
    assert repr(DbSink(CONFIG)) == f"DbSink({config_repr(CONFIG)})"
    assert config_repr(DbConfig()) == "DbConfig(host='db.local', password=None, client=<redacted>)"


def test_errors_naming_a_secret_are_rewritten():
    with pytest.raises(RedactedError) as err, redacted_errors(CONFIG, "db sink"):
        raise ConnectionError("cannot connect to postgres://u:hunter22@db.local")
    assert str(err.value) == ("db sink: ConnectionError: cannot connect to "
                              "postgres://u:<redacted>@db.local")
    assert err.value.original == "ConnectionError"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_errors_without_secrets_pass_unchanged():
    with pytest.raises(TimeoutError, match="slow"), redacted_errors(CONFIG, "db sink"):
        raise TimeoutError("slow")
