"""ETL jobs: a source, then cleanse -> transform -> store, in Python or YAML."""

from etlcore.job.cleanse import (
    Reject,
    Step,
    cast,
    custom,
    default,
    drop_if,
    parse_json,
    rename,
    require,
    select,
)
from etlcore.job.job import Job
from etlcore.job.yamlspec import JobFileError, job_from_mapping, load_yaml_job

__all__ = [
    "Job",
    "JobFileError",
    "Reject",
    "Step",
    "cast",
    "custom",
    "default",
    "drop_if",
    "job_from_mapping",
    "load_yaml_job",
    "parse_json",
    "rename",
    "require",
    "select",
]
