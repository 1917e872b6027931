"""MongoDB wire protocol: FerretDB v1 on its SQLite backend, built from the Go module proxy.

There is no MongoDB server in the registries this harness may use, so tests talk to
FerretDB, which speaks the MongoDB wire protocol (pymongo reports server 7.0). ``fetch``
downloads the FerretDB module, copies it to a writable tree and fixes two things before
``go build``:

- ``build/version/version.txt`` is missing from the module zip, and the binary panics
  at startup without it ("Invalid build/version/version.txt file content").
- ``internal/handler/msg_update.go`` closes each update's query iterator only when the
  whole command ends (a ``defer`` inside the loop), so an ``update`` command with more
  matching updates than the SQLite pool holds (100 connections) hangs forever. The
  patch closes each iterator as soon as its update is done (the defer stays).
- ``internal/backends/sqlite/metadata/metadata.go`` looks documents up by ``_id`` with the
  SQL expression ``_ferretdb_sjson->'$._id'``, while the unique ``_id_`` index is built on
  ``_ferretdb_sjson->"_id"``. SQLite matches index expressions by their form, so it never
  uses the index: every lookup, update and delete by ``_id`` scans the whole collection, and
  loading N documents by upsert takes O(N^2) (75 upserts/s at 5,000 documents). The patch
  writes the expression as ``->'_id'``, which means the same path (a bare label is ``$.``
  plus the label) and matches the index.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from .base import HarnessError, Service, cache_root, env_port, recv_exact, run_checked

DEFAULT_VERSION = "v1.24.2"
MODULE = "github.com/FerretDB/FerretDB"
BOOTSTRAP_GO = "1.24.3"  # FerretDB v1.24's go.mod toolchain; used when no go 1.21+ is on PATH
GOPROXY = "https://proxy.golang.org"

#: the leak fixed by :func:`patch_update_iterators` (FerretDB v1.24, msg_update.go)
_UPDATE_LINE = 'result, err := common.UpdateDocument(ctx, c, "update", iter, &u)'


def patch_update_iterators(src: Path) -> None:
    """Close each update's iterator (and its SQLite connection) when that update ends."""
    path = src / "internal" / "handler" / "msg_update.go"
    text = path.read_text()
    if "etlcore: close each iterator" in text:
        return
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if _UPDATE_LINE in line]
    if len(hits) != 1:
        raise HarnessError(
            f"mongodb: cannot patch {path}: expected one line with {_UPDATE_LINE!r}, "
            f"found {len(hits)} (a FerretDB version other than v1.24?)"
        )
    i = hits[0]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines.insert(i + 1, f"{indent}closer.Close() // etlcore: close each iterator, keep the defer\n")
    path.write_text("".join(lines))


#: what the SQLite backend's _id expression must read, to match the _id_ index
_ID_COLUMN = "IDColumn = DefaultColumn + \"->'$._id'\""
_ID_COLUMN_FIXED = "IDColumn = DefaultColumn + \"->'_id'\" // etlcore: the _id_ index's form"
#: recorded in the cache's .complete file: a cache built with other patches is rebuilt
PATCH_LEVEL = "patches: update-iterators, id-index"


def patch_id_column(src: Path) -> None:
    """Make lookups by ``_id`` use the ``_id_`` index (the same path, the index's form)."""
    path = src / "internal" / "backends" / "sqlite" / "metadata" / "metadata.go"
    text = path.read_text()
    if _ID_COLUMN_FIXED in text:
        return
    if text.count(_ID_COLUMN) != 1:
        raise HarnessError(f"mongodb: cannot patch {path}: expected one {_ID_COLUMN!r}")
    path.write_text(text.replace(_ID_COLUMN, _ID_COLUMN_FIXED))


def _cstring(s: str) -> bytes:
    return s.encode() + b"\x00"


def _ping_message(request_id: int = 1) -> bytes:
    """An OP_MSG ``{ping: 1, $db: "admin"}``, BSON encoded by hand (no client library)."""
    elems = b"\x10" + _cstring("ping") + struct.pack("<i", 1)
    db = _cstring("admin")
    elems += b"\x02" + _cstring("$db") + struct.pack("<i", len(db)) + db
    doc = struct.pack("<i", len(elems) + 5) + elems + b"\x00"
    body = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0, the document
    return struct.pack("<iiii", 16 + len(body), request_id, 0, 2013) + body


def ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether the server answers a ``ping`` command with ``ok: 1``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(_ping_message())
        head = recv_exact(sock, 16)
        size, _, _, opcode = struct.unpack("<iiii", head)
        reply = recv_exact(sock, size - 16)
    if opcode != 2013:
        raise HarnessError(f"mongodb: unexpected reply opcode {opcode}")
    # {ok: 1.0} is a double element "ok" holding 1.0
    return b"\x01ok\x00" + struct.pack("<d", 1.0) in reply


class MongoDB(Service):
    name = "mongodb"
    start_timeout = 60.0
    stop_timeout = 5.0  # a command stuck in the server ignores SIGTERM; SIGKILL is safe

    @property
    def version(self) -> str:
        return os.environ.get("ETLCORE_FERRETDB_VERSION", DEFAULT_VERSION)

    def cache_dir(self) -> Path:
        return cache_root() / f"ferretdb-{self.version}"

    @property
    def binary(self) -> Path:
        return self.cache_dir() / "bin" / "ferretdb"

    def ports(self) -> Mapping[str, int]:
        return {
            "mongo": env_port("ETLCORE_MONGODB_PORT", 27017),
            "debug": env_port("ETLCORE_MONGODB_DEBUG_PORT", 27018),
        }

    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.ports()['mongo']}/"

    def env(self) -> dict[str, str]:
        return {"ETLCORE_MONGODB_URI": self.uri()}

    # ---- fetch ----------------------------------------------------------------------

    def fetched(self) -> bool:
        try:
            marker = (self.cache_dir() / ".complete").read_text()
        except OSError:
            return False
        return self.binary.exists() and marker == f"{self.version}\n{PATCH_LEVEL}\n"

    def _go(self) -> str:
        """A ``go`` of 1.21 or newer (it fetches the toolchain go.mod asks for itself): the one
        on PATH, else Go 1.24 from the module proxy (``golang.org/toolchain``) into the cache."""
        found = shutil.which("go")
        if found:
            out = subprocess.run([found, "env", "GOVERSION"], capture_output=True, text=True)
            m = re.match(r"go1\.(\d+)", out.stdout.strip())
            if m and int(m.group(1)) >= 21:
                return found
        root = cache_root() / f"go-{BOOTSTRAP_GO}"
        go = root / "bin" / "go"
        if go.exists():
            return str(go)
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        tag = f"v0.0.1-go{BOOTSTRAP_GO}.{platform.system().lower()}-{arch}"
        url = f"{GOPROXY}/golang.org/toolchain/@v/{tag}.zip"
        prefix = f"golang.org/toolchain@{tag}/"  # every path in the zip starts with it
        tmp = root.with_name(root.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with urllib.request.urlopen(url, timeout=120) as resp:
                (tmp / "go.zip").write_bytes(resp.read())
            with zipfile.ZipFile(tmp / "go.zip") as zf:
                for info in zf.infolist():
                    name = info.filename.removeprefix(prefix)
                    if name == info.filename or not name or info.is_dir():
                        continue
                    dest = tmp / "go" / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(zf.read(info))
                    dest.chmod((info.external_attr >> 16) & 0o777 or 0o644)
        except OSError as exc:
            raise HarnessError(f"mongodb: no go 1.21+ on PATH, and fetching {url} failed: "
                               f"{exc}") from exc
        shutil.rmtree(root, ignore_errors=True)
        (tmp / "go").rename(root)
        shutil.rmtree(tmp, ignore_errors=True)
        return str(go)

    def _go_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "GOMODCACHE": str(cache_root() / "gomod"),
                "GOFLAGS": "-buildvcs=false -mod=mod",
                "CGO_ENABLED": "0",
            }
        )
        return env

    def fetch(self) -> None:
        if self.fetched():
            return
        go = self._go()
        work = self.cache_dir()
        work.mkdir(parents=True, exist_ok=True)
        env = self._go_env()
        saved = dict(os.environ)
        os.environ.update(env)  # run_checked inherits the environment
        try:
            out = work / "module.json"
            run_checked(
                ["sh", "-c", f"'{go}' mod download -json {MODULE}@{self.version} > '{out}'"],
                cwd=work,
                what="mongodb: go mod download",
            )
            module_dir = Path(json.loads(out.read_text())["Dir"])
            src = work / "src"
            shutil.rmtree(src, ignore_errors=True)
            shutil.copytree(module_dir, src)
            for path in [src, *src.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
            (src / "build" / "version" / "version.txt").write_text(self.version + "\n")
            patch_update_iterators(src)
            patch_id_column(src)
            (work / "bin").mkdir(exist_ok=True)
            run_checked(
                [go, "build", "-o", str(self.binary) + ".partial", "./cmd/ferretdb"],
                cwd=src,
                what="mongodb: go build ferretdb",
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        Path(str(self.binary) + ".partial").rename(self.binary)
        (work / ".complete").write_text(f"{self.version}\n{PATCH_LEVEL}\n")

    # ---- run ------------------------------------------------------------------------

    @property
    def _data(self) -> Path:
        return self.state_dir() / "data"

    def prepare(self) -> None:
        self._data.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        ports = self.ports()
        return [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self._data.resolve()}/",
            f"--listen-addr=127.0.0.1:{ports['mongo']}",
            f"--debug-addr=127.0.0.1:{ports['debug']}",
            f"--state-dir={self.state_dir().resolve()}",
            "--telemetry=disable",
            "--log-level=error",  # warn logs every unsupported endSessions in full
        ]

    def ready(self) -> bool:
        return ping(self.ports()["mongo"])
