"""Kinesis: kinesalite from npm, bound to 127.0.0.1 from a few lines of JS."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .base import HarnessError, Service, cache_root, env_port, run_checked

VERSION = "3.3.3"

# kinesalite's own CLI listens on every interface; this binds 127.0.0.1 only.
LAUNCHER = """\
'use strict';
const [modulePath, dataPath, port] = process.argv.slice(2);
const kinesalite = require(modulePath);
const server = kinesalite({
  path: dataPath,
  createStreamMs: 10,
  deleteStreamMs: 10,
  updateStreamMs: 10,
  shardLimit: 10000,
});
server.listen(Number(port), '127.0.0.1', (err) => {
  if (err) throw err;
  console.log(`kinesalite listening on 127.0.0.1:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
"""


class Kinesis(Service):
    name = "kinesis"
    start_timeout = 30.0
    stop_timeout = 10.0

    def cache_dir(self) -> Path:
        return cache_root() / "kinesalite"

    @property
    def _module(self) -> Path:
        return self.cache_dir() / "node_modules" / "kinesalite"

    def ports(self) -> Mapping[str, int]:
        return {"http": env_port("ETLCORE_KINESIS_PORT", 4567)}

    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports()['http']}"

    def env(self) -> dict[str, str]:
        return {"ETLCORE_KINESIS_ENDPOINT": self.endpoint()}

    def fetched(self) -> bool:
        try:
            meta = json.loads((self._module / "package.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(meta.get("version") == VERSION and (self.cache_dir() / ".complete").exists())

    def fetch(self) -> None:
        if self.fetched():
            return
        if shutil.which("npm") is None or shutil.which("node") is None:
            raise HarnessError("kinesis: needs `node` and `npm` on PATH")
        self.cache_dir().mkdir(parents=True, exist_ok=True)
        (self.cache_dir() / ".complete").unlink(missing_ok=True)
        run_checked(
            [
                "npm",
                "install",
                "--prefix",
                str(self.cache_dir()),
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--loglevel=error",
                f"kinesalite@{VERSION}",
            ],
            what="kinesis: npm install kinesalite",
        )
        (self.cache_dir() / ".complete").write_text(VERSION + "\n")

    def prepare(self) -> None:
        (self.state_dir() / "data").mkdir(parents=True, exist_ok=True)
        (self.state_dir() / "launch.js").write_text(LAUNCHER)

    def command(self) -> list[str]:
        return [
            "node",
            str(self.state_dir() / "launch.js"),
            str(self._module),
            str(self.state_dir() / "data"),
            str(self.ports()["http"]),
        ]

    def ready(self) -> bool:
        # Any JSON answer to a Kinesis call proves kinesalite is serving (unsigned calls get a
        # JSON auth error, which is enough).
        req = urllib.request.Request(
            self.endpoint(),
            data=b"{}",
            method="POST",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "Kinesis_20131202.ListStreams",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=1.0) as resp:
                body = resp.read()
        except urllib.error.HTTPError as err:
            body = err.read()
        except (urllib.error.URLError, OSError):
            return False
        try:
            json.loads(body)
        except ValueError:
            return False
        return True
