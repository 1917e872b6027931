"""``etlcore validate`` checks a job without running it; ``etlcore schema`` prints the
JSON Schema editors use."""

import json
import textwrap

import jsonschema
import yaml

JOB = """
name: checked
checkpoint: ckpt
sources:
  clicks: {type: generator, config: {kind: clicks, rate: 100}}
  users: {type: queue, config: {batches: [[["u1", "Ann"]]]}}
from: clicks
transform:
  - pair: {key: user_id, value: url}
  - left_outer_join: {stream: users}
  - reduce_by_key_and_window: {func: count, length: %s}
store:
  - sink: sqlite
    config: {path: out.db, table: t, key: [k], columns: [k, v]}
"""


def test_validate_accepts_a_good_job_and_touches_nothing(cli, tmp_path):
    (tmp_path / "job.yaml").write_text(textwrap.dedent(JOB % "3s"))
    result = cli("validate", "job.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok: job.yaml: job 'checked', 2 source(s) (clicks, users)" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.yaml"]  # no checkpoint, no db


def test_validate_names_the_key_and_what_is_expected(cli, tmp_path):
    (tmp_path / "job.yaml").write_text(textwrap.dedent(JOB % "2.5s"))
    result = cli("validate", "job.yaml")
    assert result.returncode == 2
    assert result.stderr.startswith("error: job.yaml: ")
    assert "transform[2].reduce_by_key_and_window.length" in result.stderr
    assert "a positive multiple of the batch interval (1s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_is_json_schema_that_checks_job_files(cli, tmp_path):
    result = cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    job = yaml.safe_load(JOB % "3s")
    assert jsonschema.Draft202012Validator(schema).is_valid(job)
    job["transform"][2]["reduce_by_key_and_window"]["lenght"] = "3s"
    assert not jsonschema.Draft202012Validator(schema).is_valid(job)
