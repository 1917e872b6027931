"""The contract of a file system that holds checkpoints: its store and its lease.

A plugin whose file system may hold a job's checkpoint (``checkpoint="s3://..."``)
subclasses :class:`CheckpointStoreContract` and gives ``location()``, a fresh URL
on its real server, under which the checkpoint goes:

    class TestS3Checkpoint(CheckpointStoreContract):
        def location(self) -> str:
            return f"s3://{self.request.getfixturevalue('s3_bucket_factory')()}/ckpt"

The tests write, read, list and replace files through the store, run a
checkpoint's log through a restart, and take the lease as two drivers would: one
holds it, a second is refused with the owner named, a dead owner's lease is taken
over (at once when it died on this host, after the expiry when it ran elsewhere),
and the owner that was overtaken stops writing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from etlcore.batch import BatchPlan
from etlcore.checkpoint import Checkpoint
from etlcore.ckptstore import RemoteStore, open_store
from etlcore.errors import CheckpointError
from etlcore.lease import FOLDER, Lease

FINGERPRINT = {"nodes": {"src": {"kind": "queue"}, "count": {"stateful": True}}, "outputs": {}}


class CheckpointStoreContract:
    """Subclass and define :meth:`location`; every test runs against the real server."""

    request: pytest.FixtureRequest

    @pytest.fixture(autouse=True)
    def _store_setup(self, request: pytest.FixtureRequest) -> Iterator[None]:
        self.request = request
        self._leases: list[Lease] = []
        yield
        for lease in self._leases:
            lease.stop()  # the test released what it meant to; its bucket may be gone

    def location(self) -> str:
        """A fresh, empty URL on the plugin's server."""
        raise NotImplementedError(f"{type(self).__name__} must define location()")

    def subprocess_env(self) -> dict[str, str]:
        """Environment of a child process that imports etlcore and reaches the server."""
        return dict(os.environ)

    def lease(self, root: str, ttl: float) -> Lease:
        lease = Lease(RemoteStore(root), ttl=ttl)
        self._leases.append(lease)
        return lease

    # -- the store -------------------------------------------------------------------
    def test_files_are_written_whole_listed_and_replaced(self) -> None:
        store = open_store(self.location())
        assert isinstance(store, RemoteStore)
        assert store.names("plans") == [] and store.ids("plans", ".json") == []
        for b in (2, 0, 10):
            store.write(f"plans/{b:012d}.json", f"plan {b}".encode())
        store.write("plans/notes.txt", b"not a batch")
        assert store.ids("plans", ".json") == [0, 2, 10]
        assert store.read("plans/000000000002.json") == b"plan 2"
        store.write("plans/000000000002.json", b"plan 2, again")
        assert store.read("plans/000000000002.json") == b"plan 2, again"
        assert store.names("plans") == sorted(
            [f"{b:012d}.json" for b in (0, 2, 10)] + ["notes.txt"])  # no temp files left
        store.remove("plans/000000000000.json")
        store.remove("plans/000000000000.json")  # a missing file is fine
        assert not store.exists("plans/000000000000.json")
        with pytest.raises(FileNotFoundError):
            store.read("plans/000000000000.json")
        assert store.sub("plans").ids("", ".json") == [2, 10]

    def test_exclusive_create_has_one_winner(self) -> None:
        store = open_store(self.location())
        assert store.create("epoch.json", b"first")
        assert not store.create("epoch.json", b"second")
        assert store.read("epoch.json") == b"first"

    def _logged(self, root: str, plans: int, state: bool = False) -> None:
        """A job's log with ``plans`` plans of five records each, batches 0 and 1 committed
        (and, with ``state``, a snapshot at batch 1)."""
        ckpt = Checkpoint(root, "job", FINGERPRINT)
        ckpt.open()
        try:
            for b in range(plans):
                plan = BatchPlan(b, 10.0 + b, {"src": {"0": [b * 5, b * 5 + 5]}})
                ckpt.write_plan(plan)
                if b < 2:
                    ckpt.write_commit(plan, 5)
            if state:
                ckpt.write_state(1, {"count": {"a": 2}})
        finally:
            ckpt.close()

    def test_checkpoint_log_survives_a_restart(self) -> None:
        root = self.location()
        self._logged(root, 3, state=True)
        again = Checkpoint(root, "job", FINGERPRINT)
        again.open()
        try:
            rec = again.recover()
            assert (rec.last_committed, rec.snapshot_batch, rec.state) == (1, 1, {"count": {"a": 2}})
            assert [p.ranges for p in rec.pending] == [{"src": {"0": [10, 15]}}]
            assert rec.positions == {"src": {"0": 15}}
            again.prune(1)
            assert again.store.ids("plans", ".json") == [1, 2]
        finally:
            again.close()
        other = Checkpoint(root, "another-job", FINGERPRINT)
        with pytest.raises(CheckpointError, match="belongs to job 'job'"):
            other.open()

    def test_two_open_plans_are_both_pending_in_order(self) -> None:
        """Batch n committing behind n+1's tasks: plans n and n+1 past the last commit."""
        root = self.location()
        self._logged(root, 4)
        again = Checkpoint(root, "job", FINGERPRINT)
        again.open()
        try:
            rec = again.recover()
            assert rec.last_committed == 1
            assert [(p.batch_id, p.ranges) for p in rec.pending] == [
                (2, {"src": {"0": [10, 15]}}), (3, {"src": {"0": [15, 20]}})]
            assert (rec.positions, rec.last_batch_time) == ({"src": {"0": 20}}, 13.0)
            assert again.store.ids("plans", ".json") == [0, 1, 2, 3]  # nothing dropped
        finally:
            again.close()

    # -- the lease ----------------------------------------------------------------------
    def test_second_driver_is_refused_naming_the_owner(
            self, caplog: pytest.LogCaptureFixture) -> None:
        root = self.location()
        first = self.lease(root, ttl=5.0)  # renewed every 1.7 s; watched for 6 s
        first.acquire()
        second = self.lease(root, ttl=5.0)
        with pytest.raises(CheckpointError) as err:
            second.acquire()
        message = str(err.value)
        assert root in message and f"pid {os.getpid()} on host" in message
        first.check()  # still the owner
        held = first.generation
        first.release()
        third = self.lease(root, ttl=5.0)
        caplog.clear()
        with caplog.at_level("INFO", logger="etlcore.lease"):
            third.acquire()  # a released lease is taken at once, without watching it
        assert not [r for r in caplog.records if "waiting up to" in r.getMessage()]
        assert third.generation == held + 1
        third.release()

    def test_expired_lease_of_another_host_is_taken_over(self) -> None:
        root = self.location()
        store = RemoteStore(root)
        dead = {"owner": "x" * 32, "host": "elsewhere.example", "pid": 4242, "pidns": "",
                "since": time.time() - 60, "beat": 7, "ttl": 1.0, "released": False}
        assert store.create(f"{FOLDER}/000000000003.json", json.dumps(dead).encode())
        lease = self.lease(root, ttl=1.0)
        t0 = time.monotonic()
        lease.acquire()
        waited = time.monotonic() - t0
        assert waited >= 1.0, "taken before the dead owner's lease expired"
        assert lease.generation == 4
        assert store.ids(FOLDER, ".json") == [4]  # the stale generation is cleaned up
        lease.check()

    def test_overtaken_owner_stops(self) -> None:
        root = self.location()
        owner = self.lease(root, ttl=1.0)
        owner.acquire()
        owner.stop()  # a driver frozen (GC, swap, lost network): no more renewals
        taker = self.lease(root, ttl=1.0)
        taker.acquire()  # silent for 1.2 ttl: taken over
        with pytest.raises(CheckpointError, match="lost its lease"):
            owner.check()
        ckpt = Checkpoint.__new__(Checkpoint)
        ckpt.lease = owner
        with pytest.raises(CheckpointError, match="lost its lease"):
            ckpt.write_plan(BatchPlan(0, 0.0, {}))
        owner.release()  # must not mark the taker's lease released
        assert not json.loads(taker.store.read(f"{FOLDER}/{taker.generation:012d}.json"))[
            "released"]

    def test_lease_of_a_killed_driver_on_this_host_is_taken_at_once(
            self, caplog: pytest.LogCaptureFixture) -> None:
        root = self.location()
        script = textwrap.dedent(f"""
            import sys, time
            from etlcore.ckptstore import RemoteStore
            from etlcore.lease import Lease
            Lease(RemoteStore({root!r}), ttl=30.0).acquire()
            print("held", flush=True)
            time.sleep(120)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], env=self.subprocess_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line == b"held\n", proc.stderr.read() if proc.stderr else line  # type: ignore[union-attr]
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        lease = self.lease(root, ttl=30.0)
        with caplog.at_level("INFO", logger="etlcore.lease"):
            lease.acquire()  # its pid is gone: no 36 s wait
        messages = [r.getMessage() for r in caplog.records]
        assert any("that process is gone" in m for m in messages), messages
        assert not any("waiting up to" in m for m in messages)
        assert lease.generation == 1
