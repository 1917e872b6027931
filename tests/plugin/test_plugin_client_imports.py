"""The Kafka and Kinesis plugins register and check configs without their client libraries.

A job that uses neither, or ``etlcore plugins``, must not pay for importing
confluent-kafka or boto3 (nor fail when they are missing); the client is
imported with the connector module, and its absence says what to pip install.
Each check runs in a fresh interpreter, since this one may have imported them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_PATHS = [str(REPO / "plugins" / name) for name in ("kafka", "kinesis")]
CLIENTS = ["confluent_kafka", "boto3", "botocore"]


def _run(code: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *PLUGIN_PATHS, *sys.path])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_importing_the_plugins_and_configs_leaves_the_clients_alone() -> None:
    loaded = _run(f"""
import json, sys
import etlcore_kafka, etlcore_kafka.config, etlcore_kinesis, etlcore_kinesis.config
from etlcore.config import parse_config
parse_config(etlcore_kafka.config.KafkaSourceConfig,
             {{"bootstrap_servers": "h:1", "topics": ["t"]}}, "source 'kafka'")
repr(parse_config(etlcore_kafka.config.KafkaSinkConfig,
                  {{"bootstrap_servers": "h:1", "topic": "t"}}, "sink 'kafka'"))
parse_config(etlcore_kinesis.config.KinesisSourceConfig, {{"stream_name": "s"}}, "source")
print(json.dumps(sorted(m for m in {CLIENTS!r} if m in sys.modules)))
""")
    assert loaded == [], f"importing the plugins imported {loaded}"


def test_the_connector_module_brings_its_client() -> None:
    """The lazy re-export still works, and the client comes with it."""
    loaded = _run("""
import json, sys
from etlcore_kinesis import KinesisSource
import etlcore_kafka.source
print(json.dumps([KinesisSource.__name__, "boto3" in sys.modules,
                  "confluent_kafka" in sys.modules]))
""")
    assert loaded == ["KinesisSource", True, True]


@pytest.mark.parametrize(("module", "client", "package"), [
    ("etlcore_kafka.sink", "confluent_kafka", "confluent-kafka>=2.3"),
    ("etlcore_kinesis.source", "boto3", "boto3"),
])
def test_a_missing_client_says_what_to_install(module: str, client: str, package: str) -> None:
    result = _run(f"""
import json, sys
sys.modules[{client!r}] = None  # as if not installed
from etlcore.plugin.imports import MissingDependencyError
try:
    import {module}
except MissingDependencyError as err:
    print(json.dumps(str(err)))
""")
    assert f"pip install '{package}'" in result and client in result
