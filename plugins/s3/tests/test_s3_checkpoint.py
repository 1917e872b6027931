"""A job's checkpoint on S3 (MinIO): the store and the lease under the contract kit."""

from __future__ import annotations

from typing import Any

import pytest

from etlcore.contract.checkpoint import CheckpointStoreContract

pytestmark = pytest.mark.services


@pytest.fixture
def aws_env(s3_endpoint: str, s3_credentials: Any) -> dict[str, str]:
    """The standard AWS variables a ``checkpoint="s3://..."`` reads its settings from."""
    return {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": s3_credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": s3_credentials.secret_access_key,
            "AWS_DEFAULT_REGION": s3_credentials.region}


class TestS3Checkpoint(CheckpointStoreContract):
    @pytest.fixture(autouse=True)
    def _aws(self, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in aws_env.items():
            monkeypatch.setenv(key, value)

    def location(self) -> str:
        return f"s3://{self.request.getfixturevalue('s3_bucket_factory')()}/jobs/ckpt"

    def subprocess_env(self) -> dict[str, str]:
        return {**self.request.getfixturevalue("subprocess_env"),
                **self.request.getfixturevalue("aws_env")}
