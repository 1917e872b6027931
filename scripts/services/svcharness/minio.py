"""S3: MinIO, built from source with ``go install`` at a pinned pseudo-version."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .base import HarnessError, Service, cache_root, env_port, run_checked

# MinIO's RELEASE.* tags are not semver: `@latest` resolves to this pseudo-version.
VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MODULE = "github.com/minio/minio"
ACCESS_KEY = "etlcore"
SECRET_KEY = "etlcore-secret"  # a throwaway test server bound to loopback only


class MinIO(Service):
    name = "s3"
    start_timeout = 60.0
    stop_timeout = 15.0

    def cache_dir(self) -> Path:
        return cache_root() / f"minio-{VERSION}"

    @property
    def _binary(self) -> Path:
        return self.cache_dir() / "bin" / "minio"

    def ports(self) -> Mapping[str, int]:
        return {"http": env_port("ETLCORE_S3_PORT", 9000)}

    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports()['http']}"

    def env(self) -> dict[str, str]:
        return {
            "ETLCORE_S3_ENDPOINT": self.endpoint(),
            "ETLCORE_S3_ACCESS_KEY": ACCESS_KEY,
            "ETLCORE_S3_SECRET_KEY": SECRET_KEY,
            "ETLCORE_S3_REGION": "us-east-1",
        }

    def fetched(self) -> bool:
        return self._binary.exists() and (self.cache_dir() / ".complete").exists()

    def fetch(self) -> None:
        if self.fetched():
            return
        if shutil.which("go") is None:
            raise HarnessError("s3: needs `go` on PATH to build MinIO")
        (self.cache_dir() / "bin").mkdir(parents=True, exist_ok=True)
        env = {
            "GOBIN": str(self.cache_dir() / "bin"),
            "GOMODCACHE": str(cache_root() / "gomod"),  # shared with the other Go builds
            "GOFLAGS": "-buildvcs=false",
        }
        run_checked(
            ["go", "install", f"{MODULE}@{VERSION}"], what="s3: go install minio", env=env
        )
        (self.cache_dir() / ".complete").write_text(VERSION + "\n")

    def prepare(self) -> None:
        (self.state_dir() / "data").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        # MinIO reads its settings from the environment
        port = self.ports()["http"]
        return [
            "env",
            f"MINIO_ROOT_USER={ACCESS_KEY}",
            f"MINIO_ROOT_PASSWORD={SECRET_KEY}",
            "MINIO_BROWSER=off",
            "MINIO_UPDATE=off",
            str(self._binary),
            "server",
            str(self.state_dir() / "data"),
            "--address",
            f"127.0.0.1:{port}",
            "--quiet",
        ]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.endpoint()}/minio/health/ready", timeout=1.0
            ) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False
