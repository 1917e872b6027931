"""Fetch a Java service's runtime jars from Maven Central into the download cache.

A throwaway ``<packaging>pom</packaging>`` project lists the dependencies; the dependency
plugin copies their runtime closure into ``lib/``. The copy lands in ``lib.partial`` and is
renamed only when complete, so an interrupted fetch is redone rather than half-used.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import HarnessError, Service, cache_root, run_checked

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"


@dataclass(frozen=True)
class Artifact:
    """One Maven dependency (``group:artifact:version``).

    ``exclusions`` (``group:artifact`` pairs) drop transitive dependencies, e.g. a
    second logging backend that would clash with the one the service is given.
    """

    group: str
    artifact: str
    version: str
    exclusions: tuple[tuple[str, str], ...] = ()

    def xml(self) -> str:
        excluded = "".join(
            f"        <exclusion><groupId>{g}</groupId><artifactId>{a}</artifactId></exclusion>\n"
            for g, a in self.exclusions
        )
        if excluded:
            excluded = f"      <exclusions>\n{excluded}      </exclusions>\n"
        return (
            "    <dependency>\n"
            f"      <groupId>{self.group}</groupId>\n"
            f"      <artifactId>{self.artifact}</artifactId>\n"
            f"      <version>{self.version}</version>\n"
            f"{excluded}"
            "    </dependency>\n"
        )


def pom(name: str, deps: Sequence[Artifact]) -> str:
    """A pom-packaged project whose only content is ``deps``."""
    body = "".join(d.xml() for d in deps)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>etlcore.services</groupId>\n"
        f"  <artifactId>{name}-runtime</artifactId>\n"
        "  <version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        f"  <dependencies>\n{body}  </dependencies>\n"
        "</project>\n"
    )


def jars_fetched(lib: Path) -> bool:
    """Whether ``lib`` holds a completed copy."""
    return (lib / ".complete").exists()


def fetch_jars(service: str, work: Path, deps: Sequence[Artifact], stamp: str,
               check: Callable[[Path], None] | None = None) -> Path:
    """Copy the runtime jars of ``deps`` into ``work/lib`` (idempotent); returns that dir.

    ``check`` sees the finished copy before it is marked complete, so a copy that lacks
    what the service needs (raise :class:`HarnessError`) is fetched again next time.
    """
    lib = work / "lib"
    if jars_fetched(lib):
        return lib
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise HarnessError(f"{service}: needs `mvn` and `java` (Java 17) on PATH")
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(pom(service, deps))
    tmp = work / "lib.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    run_checked(
        [
            "mvn",
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-f",
            str(work / "pom.xml"),
            f"-Dmaven.repo.local={cache_root() / 'm2'}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ],
        what=f"{service}: mvn copy-dependencies",
    )
    if check is not None:
        check(tmp)
    (tmp / ".complete").write_text(stamp + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    return lib


class MavenService(Service):
    """A JVM service run from Maven Central jars: :meth:`artifacts` names them, the copy
    lives in ``cache_dir()/lib`` (complete or refetched), configs go to the state
    directory's ``conf/`` and data to its ``data/``."""

    @property
    def version(self) -> str:
        """The version fetched and run (the cache stamp)."""
        raise NotImplementedError

    def artifacts(self) -> Sequence[Artifact]:
        """The dependencies whose runtime jars the service runs from."""
        raise NotImplementedError

    def check_jars(self, lib: Path) -> None:  # noqa: B027 - optional hook
        """Raise :class:`HarnessError` if a finished copy lacks what the service needs."""

    @property
    def lib_dir(self) -> Path:
        return self.cache_dir() / "lib"

    def fetched(self) -> bool:
        return jars_fetched(self.lib_dir)

    def fetch(self) -> None:
        fetch_jars(self.name, self.cache_dir(), self.artifacts(), self.version,
                   check=self.check_jars)

    @property
    def _conf(self) -> Path:
        return self.state_dir() / "conf"

    @property
    def _data(self) -> Path:
        return self.state_dir() / "data"
